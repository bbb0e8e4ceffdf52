#!/usr/bin/env bash
# kill -9 of several cug-admin processes writing at once: the store stays
# consistent (cug-admin check, mdb_stat) and every change that reported success
# is there.
#
# The test runs until it has what it needs, not for a fixed time: each writer
# kills its own cug-admin at a random moment within about twice the time a
# write has been taking, so on a fast or a slow machine (or under ASan) about
# half of the writes are cut short and half finish. It stops once 20 writes
# have succeeded and 20 processes were killed while still running.
. "$(dirname "$0")/lib.sh"
new_store
expect 0 admin group add VPN1 --prefix 10.0.0.0/16
expect 0 admin group add VPN2 --prefix fd00:2::/64

want_kills=${CUG_CRASH_KILLS:-20}
want_writes=${CUG_CRASH_WRITES:-20}
writers=4

# run_killed FILE CMD...: runs CMD, and kills it with SIGKILL after a random
# delay drawn from [0, 2 x the mean duration so far]. Exit 0 if it finished
# with status 0, 1 if it failed, 2 if it was killed. The mean is kept in FILE
# in microseconds; it starts from the first run, which is never killed.
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
run_killed() {
  local mean_file=$1; shift
  local mean; mean=$(cat "$mean_file" 2>/dev/null || echo 0)
  local start; start=$(now_us)
  "$@" 2>/dev/null >/dev/null &
  local pid=$! killed=0 status=0
  if [ "$mean" -gt 0 ]; then
    local delay=$(( (RANDOM * 32768 + RANDOM) % (2 * mean + 1) ))
    pause_us "$delay"
    kill -9 "$pid" 2>/dev/null && killed=1
  fi
  wait "$pid" || status=$?
  if [ "$killed" -eq 1 ] && [ "$status" -eq 137 ]; then return 2; fi
  [ "$status" -eq 0 ] || return 1
  local took=$(( $(now_us) - start ))
  if [ "$mean" -eq 0 ]; then echo "$took" > "$mean_file"; else echo $(( (3 * mean + took) / 4 )) > "$mean_file"; fi
  return 0
}

writer() {
  local w=$1 i=0 status
  while [ ! -e "$WORK/stop" ]; do
    i=$((i + 1))
    local user="w$w-$i"
    printf 'password-%s\n' "$user" > "$WORK/pw.$w"
    status=0
    run_killed "$WORK/mean.$w.user" "$ADMIN_BIN" --store "$STORE" user add "$user" --password-fd 3 3<"$WORK/pw.$w" || status=$?
    case $status in
      0) echo "$user" >> "$WORK/users.$w" ;;
      2) echo kill >> "$WORK/kills.$w"; continue ;;
      *) continue ;;
    esac
    local group=VPN$(( (i % 2) + 1 ))
    status=0
    run_killed "$WORK/mean.$w.member" "$ADMIN_BIN" --store "$STORE" member add "$group" "$user" || status=$?
    case $status in
      0) echo "$group $user" >> "$WORK/members.$w" ;;
      2) echo kill >> "$WORK/kills.$w" ;;
    esac
  done
}

loops=()
for w in $(seq "$writers"); do writer "$w" 2>/dev/null & loops+=($!); cleanup_pids+=($!); done

count() { cat "$@" 2>/dev/null | wc -l; }
# Until there is enough of both; a writer that cannot write at all shows up
# as a test that never ends, which ctest's timeout reports.
while [ "$(count "$WORK"/users.*)" -lt "$want_writes" ] || [ "$(count "$WORK"/kills.*)" -lt "$want_kills" ]; do
  for pid in "${loops[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a writer stopped"; done
  sleep 0.2
done
touch "$WORK/stop"
for pid in "${loops[@]}"; do wait "$pid" || true; done

recorded_users=$(count "$WORK"/users.*)
kills=$(count "$WORK"/kills.*)
echo "ok: $recorded_users users written by $writers processes, $kills writes killed by SIGKILL while running"

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
