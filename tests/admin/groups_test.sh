#!/usr/bin/env bash
# cug-admin group ... and member ...
. "$(dirname "$0")/lib.sh"
new_store
for u in USER-A USER-B USER-C; do expect 0 with_password "passwd-$u" admin user add "$u" --password-fd 3; done

expect 0 admin group add VPN1 --prefix 10.0.0.0/24
expect 73 admin group add VPN1 --prefix 10.9.0.0/24
expect 65 admin group add VPN2 --prefix 10.0.0.0/16
contains "$ERR" "overlaps group VPN1"
expect 65 admin group add VPN2 --prefix 10.1.0.1/24
contains "$ERR" "did you mean 10.1.0.0/24"
expect 65 admin group add VPN2 --prefix banana
expect 65 admin group add VPN2 --prefix 10.1.0.0/31
expect 65 admin group add "VPN 2" --prefix 10.1.0.0/24
expect 64 admin group add VPN2
expect 0 admin group add SMALL --prefix 10.2.0.0/30
expect 0 admin group add V6 --prefix fd00:1::/64
pass "group add checks names and prefixes"

expect 0 admin member add VPN1 USER-A
[ "$OUT" = "VPN1 USER-A 10.0.0.1" ] || fail "member add printed: $OUT"
expect 0 admin member add VPN1 USER-B --address 10.0.0.20
expect 73 admin member add VPN1 USER-C --address 10.0.0.20
contains "$ERR" "already USER-B's address"
expect 65 admin member add VPN1 USER-C --address 10.0.0.255
expect 65 admin member add VPN1 USER-C --address 10.0.1.1
expect 65 admin member add VPN1 USER-C --address nonsense
expect 73 admin member add VPN1 USER-A
expect 67 admin member add VPN1 NOBODY
expect 67 admin member add NOGROUP USER-A
expect 0 admin member add SMALL USER-A
expect 0 admin member add SMALL USER-B
expect 69 admin member add SMALL USER-C
contains "$ERR" "is full"
expect 0 admin member add V6 USER-C
[ "$OUT" = "V6 USER-C fd00:1::1" ] || fail "IPv6 member add printed: $OUT"
pass "member add allocates, honours and refuses addresses"

expect 0 admin group show VPN1 --json
[ "$(printf '%s' "$OUT" | json_get 'd["members"], [(m["user"], m["address"]) for m in d["member_list"]]')" = \
  "2 [('USER-A', '10.0.0.1'), ('USER-B', '10.0.0.20')]" ] || fail "group show --json: $OUT"
expect 0 admin group show VPN1
contains "$OUT" "members: 2 of 254"
expect 0 admin group list
contains "$OUT" "VPN1   10.0.0.0/24  2"
expect 0 admin member list
contains "$OUT" "VPN1   USER-B  10.0.0.20"
expect 0 admin member list VPN1 --json
[ "$(printf '%s' "$OUT" | json_get 'len(d)')" = 2 ] || fail "member list VPN1 --json: $OUT"
expect 67 admin group show NOGROUP
pass "group show/list and member list"

expect 0 admin member del VPN1 USER-A
expect 67 admin member del VPN1 USER-A
contains "$ERR" "not a member"
expect 65 admin group del SMALL
contains "$ERR" "still has 2 members"
expect 0 admin group del SMALL --force
expect 0 admin user show USER-A --json
[ "$(printf '%s' "$OUT" | json_get 'd["groups"]')" = "[]" ] || fail "USER-A still in groups: $OUT"
expect 0 admin check
pass "member del and group del"

# Nobody is logged in yet: the registration table is empty, in both forms.
expect 0 admin session list
[ "$OUT" = "GROUP  USER  OVERLAY  TERMINAL  SINCE" ] || fail "session list: $OUT"
expect 0 admin session list --json
[ "$(printf '%s' "$OUT" | json_get 'd')" = "[]" ] || fail "session list --json: $OUT"
pass "an empty registration table"
