#!/usr/bin/env bash
# kill -9 of several cug-admin processes writing at once: the store stays
# consistent (cug-admin check, mdb_stat) and every change that reported success
# is there.
. "$(dirname "$0")/lib.sh"
new_store
expect 0 admin group add VPN1 --prefix 10.0.0.0/16
expect 0 admin group add VPN2 --prefix fd00:2::/64

seconds=${CUG_CRASH_SECONDS:-8}
writer() {
  local w=$1 i=0
  while [ ! -e "$WORK/stop" ]; do
    i=$((i + 1))
    local user="w$w-$i"
    if "$ADMIN_BIN" --store "$STORE" user add "$user" --password-fd 3 3< <(echo "password-$user") 2>/dev/null; then
      echo "$user" >> "$WORK/users.$w"
      local group=VPN$(( (i % 2) + 1 ))
      if "$ADMIN_BIN" --store "$STORE" member add "$group" "$user" >/dev/null 2>&1; then
        echo "$group $user" >> "$WORK/members.$w"
      fi
    fi
  done
}

loops=()
for w in 1 2 3 4; do writer "$w" 2>/dev/null & loops+=($!); cleanup_pids+=($!); done

# Kill cug-admin processes of this store at random moments: for `seconds`, and
# on until 20 have been killed (a loaded machine starts fewer), at most 60 s.
kills=0
start=$SECONDS
while [ $((SECONDS - start)) -lt "$seconds" ] || { [ "$kills" -lt 20 ] && [ $((SECONDS - start)) -lt 60 ]; }; do
  sleep "0.0$((RANDOM % 4 + 1))"
  for pid in $(pgrep -f -- "--store $STORE" || true); do
    if [ $((RANDOM % 3)) -eq 0 ] && kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  done
done
touch "$WORK/stop"
for pid in "${loops[@]}"; do wait "$pid" || true; done

recorded_users=$(cat "$WORK"/users.* 2>/dev/null | wc -l)
[ "$recorded_users" -gt 20 ] || fail "only $recorded_users writes succeeded; the test proved little"
[ "$kills" -ge 20 ] || fail "only $kills processes were killed in 60 s"
echo "ok: $recorded_users users written by 4 processes, $kills of them killed by SIGKILL"

expect 0 admin check
contains "$OUT" "store is consistent"
mdb_stat -a "$STORE" >/dev/null || fail "mdb_stat does not accept the store"
mdb_dump -a "$STORE" >/dev/null || fail "mdb_dump cannot read every database"
pass "the store is consistent after the kills"

expect 0 admin user list --json
printf '%s' "$OUT" | python3 -c 'import json,sys; [print(u["name"]) for u in json.load(sys.stdin)]' | sort > "$WORK/present"
sort -u "$WORK"/users.* > "$WORK/reported"
missing=$(comm -23 "$WORK/reported" "$WORK/present")
[ -z "$missing" ] || fail "users reported as added are missing: $missing"
expect 0 admin member list --json
printf '%s' "$OUT" | python3 -c 'import json,sys; [print(m["group"], m["user"]) for m in json.load(sys.stdin)]' | sort > "$WORK/present-members"
cat "$WORK"/members.* 2>/dev/null | sort -u > "$WORK/reported-members"
missing=$(comm -23 "$WORK/reported-members" "$WORK/present-members")
[ -z "$missing" ] || fail "memberships reported as added are missing: $missing"
pass "every change that reported success is in the store"
