#!/usr/bin/env bash
# cug-admin run as root on a store that belongs to cugd's user (here
# `nobody`) works as that user: every file it makes is the owner's, so cugd
# can open the store; the audit log still names root. On a root-owned store
# it stays root.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "skipped: needs root"; exit 0; }
owner=nobody
uid=$(id -u "$owner"); gid=$(id -g "$owner")
# The owner must reach the place: our own test directory, opened to traversal.
chmod 0711 "$WORK"
mkdir -m 0700 "$WORK/state"
chown "$uid:$gid" "$WORK/state"
store="$WORK/state/store"

expect 0 "$ADMIN_BIN" --store "$store" init --server-name owned --password-cost "$CHEAP"
expect 0 with_password "pw-of-a-user" "$ADMIN_BIN" --store "$store" user add USER-A --password-fd 3
expect 0 "$ADMIN_BIN" --store "$store/" group add VPN1 --prefix 198.51.100.0/24   # a trailing slash too
others=$(find "$store" ! -uid "$uid" -printf '%p %u\n')
[ -z "$others" ] || fail "files of the store not owned by $owner: $others"
[ "$(stat -c %a "$store")" = 700 ] || fail "the store is $(stat -c %a "$store"), not 700"
# The owner itself opens it: what cugd, running as that user, will do.
setpriv --reuid "$uid" --regid "$gid" --clear-groups "$ADMIN_BIN" --store "$store" check > "$WORK/check" 2>&1 ||
  fail "$owner cannot use the store cug-admin made as root: $(cat "$WORK/check")"
expect 0 "$ADMIN_BIN" --store "$store" audit --json
actors=$(printf '%s' "$OUT" | json_get '" ".join(sorted(set(e["actor"].split()[0] for e in d)))')
[ "$actors" = root ] || fail "the audit log names '$actors', not root"
pass "as root on $owner's store: every file is $owner's, the audit log says root"

# A root-owned store stays root's: nothing to become.
expect 0 admin init --server-name mine --password-cost "$CHEAP"
[ "$(find "$STORE" ! -uid 0 | wc -l)" = 0 ] || fail "root's store got files of another user"
pass "a root-owned store stays root's"
