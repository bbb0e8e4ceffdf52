#!/usr/bin/env bash
# cug-admin init, and how every command treats a missing, newer or locked store.
. "$(dirname "$0")/lib.sh"

expect 66 admin user list
contains "$ERR" "no store at $STORE"
expect 66 admin check

new_store
contains "$OUT" "created store $STORE"
contains "$OUT" "server test-server key SHA256:"
[ "$(stat -c %a "$STORE")" = 700 ] || fail "store directory mode is $(stat -c %a "$STORE")"
[ "$(stat -c %a "$STORE/data.mdb")" = 600 ] || fail "data.mdb mode is $(stat -c %a "$STORE/data.mdb")"
pass "init makes a private store"

expect 73 admin init --server-name other
contains "$ERR" "already exists"
expect 65 "$ADMIN_BIN" --store "$WORK/s2" init --server-name "bad name"
expect 65 "$ADMIN_BIN" --store "$WORK/s2" init --password-cost "m=1,t=1,p=1"
[ ! -e "$WORK/s2/data.mdb" ] || fail "a refused init left a store behind"
pass "init refuses an existing store and bad parameters"

# CUG_STORE names the default store.
expect 0 env CUG_STORE="$STORE" "$ADMIN_BIN" server show --json
[ "$(printf '%s' "$OUT" | json_get 'd["name"]')" = test-server ] || fail "server show --json: $OUT"
expect 0 admin server show --pem
contains "$OUT" "BEGIN CERTIFICATE"
openssl x509 -noout -subject <<<"$OUT" | grep -q "CN = test-server" || fail "the certificate does not name the server"
pass "server identity"

expect 64 admin
expect 64 admin user frobnicate
expect 64 admin --no-such-option user list
pass "usage errors exit 64 with one line"

# A store written by a newer cug is refused, not downgraded.
cp -r "$STORE" "$WORK/newer"
mdb_dump -s meta "$WORK/newer" > "$WORK/meta.dump"
python3 - "$WORK/meta.dump" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().split("\n")
for i, line in enumerate(lines):
    if line.strip() == "736368656d61":          # "schema"
        lines[i + 1] = " 0000000000000003"
open(path, "w").write("\n".join(lines))
PY
mdb_load -s meta "$WORK/newer" < "$WORK/meta.dump" 2>/dev/null
expect 78 "$ADMIN_BIN" --store "$WORK/newer" user list
contains "$ERR" "newer"
pass "a newer schema is refused"

# Another writer holding the store: the command gives up after --lock-timeout.
python3 - "$STORE/writer.lock" "$WORK/locked" <<'PY' &
import fcntl, os, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
holder=$!
cleanup_pids+=("$holder")
for _ in $(seq 100); do [ -e "$WORK/locked" ] && break; sleep 0.05; done
expect 75 with_password "passwd1-A" admin --lock-timeout 0.3 user add USER-A --password-fd 3
contains "$ERR" "locked"
contains "$ERR" "process $holder"
expect 0 admin user list   # readers are not blocked
kill "$holder"; wait "$holder" 2>/dev/null || true
expect 0 with_password "passwd1-A" admin user add USER-A --password-fd 3
pass "a locked store is reported with the holder's pid"
