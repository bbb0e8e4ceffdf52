#!/usr/bin/env bash
# The patent's drawing 6: users USER-A and USER-B registered in VPN1, USER-C and
# USER-D in VPN2; every user has an address in its group and no other.
. "$(dirname "$0")/lib.sh"
new_store
expect 0 admin group add VPN1 --prefix 10.0.0.0/24
expect 0 admin group add VPN2 --prefix 10.0.1.0/24
n=0
for u in USER-A USER-B USER-C USER-D; do
  n=$((n + 1))
  expect 0 with_password "passwd$n-$u" admin user add "$u" --password-fd 3
done
expect 0 admin member add VPN1 USER-A
expect 0 admin member add VPN1 USER-B
expect 0 admin member add VPN2 USER-C
expect 0 admin member add VPN2 USER-D

expect 0 admin member list --json
table=$(printf '%s' "$OUT" | json_get '"; ".join(m["group"] + " " + m["user"] + " " + m["address"] for m in d)')
[ "$table" = "VPN1 USER-A 10.0.0.1; VPN1 USER-B 10.0.0.2; VPN2 USER-C 10.0.1.1; VPN2 USER-D 10.0.1.2" ] ||
  fail "drawing 6 table: $table"
for u in USER-A USER-B USER-C USER-D; do
  expect 0 admin user show "$u" --json
  [ "$(printf '%s' "$OUT" | json_get 'len(d["groups"])')" = 1 ] || fail "$u should be in exactly one group"
done
expect 0 admin check
pass "drawing 6: four users in two groups, each with a stable address"
