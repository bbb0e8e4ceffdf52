#!/usr/bin/env bash
# cug-admin user ...
. "$(dirname "$0")/lib.sh"
new_store

expect 0 with_password "passwd1-A" admin user add USER-A --password-fd 3
expect 73 with_password "passwd1-A" admin user add USER-A --password-fd 3
contains "$ERR" "already exists"
expect 65 with_password "passwd1-A" admin user add "bad/name" --password-fd 3
contains "$ERR" "invalid user name"
expect 65 with_password "" admin user add USER-B --password-fd 3
contains "$ERR" "password is empty"
expect 65 with_password "short" admin user add USER-B --password-fd 3
contains "$ERR" "too short"
expect 65 with_password "$(printf 'has\rcr-inside')" admin user add USER-B --password-fd 3
contains "$ERR" "control character"
expect 65 admin user add USER-B --password-fd 3 3</dev/null
contains "$ERR" "no password"
expect 64 admin user add USER-B --password-fd 9
contains "$ERR" "not open"
# No terminal and no descriptor: a clear refusal, never a hang.
expect 64 setsid "$ADMIN_BIN" --store "$STORE" user add USER-B </dev/null
contains "$ERR" "no terminal"
expect 67 admin user show USER-B
pass "user add refuses duplicates, bad names and bad passwords"

# Two secrets on one descriptor: each command reads one line only.
{ printf 'passwd2-B\n'; } > "$WORK/pw"
expect 0 admin user add USER-B --password-fd 3 3<"$WORK/pw"
expect 0 admin user show USER-B --json
[ "$(printf '%s' "$OUT" | json_get 'd["name"], d["enabled"], d["card"], d["groups"]')" = "USER-B True None []" ] ||
  fail "user show --json: $OUT"
contains "$(printf '%s' "$OUT" | json_get 'd["password_params"]')" "m=8,t=1,p=1"
pass "user show --json"

expect 0 admin user disable USER-B
expect 0 admin user show USER-B
contains "$OUT" "state: disabled"
expect 0 admin user enable USER-B
expect 0 admin user show USER-B
contains "$OUT" "state: enabled"
expect 67 admin user disable NOBODY
expect 67 with_password "passwd9-X" admin user passwd NOBODY --password-fd 3
expect 0 with_password "passwd2-B-new" admin user passwd USER-B --password-fd 3
pass "disable, enable, passwd"

expect 0 admin user list
[ "$(printf '%s\n' "$OUT" | head -1)" = "USER    STATE    CARD  GROUPS" ] || fail "user list header: $OUT"
contains "$OUT" "USER-A  enabled  none  -"
expect 0 admin user list --json
[ "$(printf '%s' "$OUT" | json_get 'len(d)')" = 2 ] || fail "user list --json: $OUT"

expect 0 admin user del USER-A
expect 67 admin user del USER-A
expect 0 admin user list --json
[ "$(printf '%s' "$OUT" | json_get '[u["name"] for u in d]')" = "['USER-B']" ] || fail "after del: $OUT"
pass "list and del"

expect 0 admin audit --json
actions=$(printf '%s' "$OUT" | json_get '" ".join(e["action"] for e in d)')
[ "$actions" = "store.init user.add user.add user.disable user.enable user.passwd user.del" ] ||
  fail "audit actions: $actions"
[ "$(printf '%s' "$OUT" | json_get 'd[1]["subject"], d[1]["program"], d[1]["uid"]')" = "USER-A cug-admin $(id -u)" ] ||
  fail "audit entry: $OUT"
expect 0 admin check
contains "$OUT" "store is consistent: 1 users"
pass "every change is audited; the store checks out"

# On a terminal: asked twice, never echoed; two different answers are refused.
on_tty() {  # on_tty "answer1" "answer2" ARGS...: runs cug-admin on a pseudo-terminal
  local first=$1 second=$2; shift 2
  local status=0
  OUT=$(python3 "$CUG_TESTS/support/answer_prompts.py" "password for" "$first" "the same password" "$second" \
        -- "$ADMIN_BIN" --store "$STORE" "$@") || status=$?
  return $status
}
on_tty "tty-secret-1" "tty-secret-1" user add USER-T || fail "user add on a terminal: $OUT"
contains "$OUT" "New password for USER-T:"
case "$OUT" in *tty-secret-1*) fail "the password was echoed: $OUT" ;; esac
status=0; on_tty "tty-secret-1" "tty-secret-2" user add USER-U || status=$?
[ "$status" -eq 65 ] || fail "different answers should exit 65, got $status: $OUT"
contains "$OUT" "the two passwords differ"
expect 67 admin user show USER-U
pass "terminal prompt: no echo, asked twice"
