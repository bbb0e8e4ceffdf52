# PAM logins for the tests (sourced after tests/server/lib.sh, pcsc.sh,
# netns.sh and terminals.sh): cug-pam-run with a configuration directory of
# the test's own ($PAMD, never /etc/pam.d), and a syslog stand-in that the
# runs' /dev/log points at (in their own mount namespaces: the host's /dev is
# untouched).
PAMD="$WORK/pam.d"
SYSLOG="$WORK/syslog"
mkdir -p "$PAMD"
# libpam's fallback for a service without a file (it logs when there is none).
printf 'auth required pam_deny.so\naccount required pam_deny.so\nsession required pam_deny.so\n' > "$PAMD/other"
declare -a PAM_PID=()

syslog_start() {
  python3 "$CUG_TESTS/support/syslog.py" "$WORK/log.sock" "$SYSLOG" &
  cleanup_pids+=($!)
  for _ in $(seq 200); do [ -S "$WORK/log.sock" ] && return 0; sleep 0.02; done
  fail "the syslog stand-in did not start"
}

# pam_service NAME LINE...: the service file $PAMD/NAME, one PAM line each.
pam_service() {
  local name=$1; shift
  printf '%s\n' "$@" > "$PAMD/$name"
}

# terminal_service T [auth arguments]: service tT, pam_cug for terminal T
# (its cug-tun's socket, reader T-1, cugd at SERVER_AT[T]) in auth and
# session, pam_permit for the account.
terminal_service() {
  local t=$1; shift
  local args="server=${SERVER_AT[$t]} socket_dir=$WORK/t$t"
  pam_service "t$t" \
    "auth required $CUG_PAM_MODULE $args [reader=$(reader_name $((t - 1)))] $*" \
    "account required pam_permit.so" \
    "session required $CUG_PAM_MODULE $args"
}

# in_pam T SERVICE USER [cug-pam-run arguments]: cug-pam-run at terminal T.
in_pam() {
  local t=$1; shift
  in_term "$t" sh -c '
    mount -t tmpfs -o mode=0755 cug-pam-dev /dev || exit 71
    mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
      mknod -m 666 /dev/random c 1 8 && mknod -m 666 /dev/urandom c 1 9 || exit 71
    touch /dev/log && mount --bind "$0" /dev/log || exit 71
    exec "$@"' "$WORK/log.sock" "$CUG_PAM_RUN" "$PAMD" "$@"
}

# pam_expect CODE T SERVICE USER [arguments]: one run that must exit CODE
# (the last step's PAM code); its output in $OUT.
pam_expect() {
  local want=$1; shift
  local status=0
  OUT=$(in_pam "$@" 2>"$WORK/stderr") || status=$?
  [ "$status" -eq "$want" ] || fail "PAM run '$*' exited $status, wanted $want: $OUT $(cat "$WORK/stderr")"
}

# syslog_count TEXT: how many lines of pam_cug's in the syslog hold TEXT
# ("pam_cug(SERVICE:auth): ...", or "pam_cug: ..." from pam_end).
syslog_count() { grep -E 'pam_cug(\(|: )' "$SYSLOG" | grep -cF -- "$1" || true; }
# until_syslog TEXT N: waits until N of pam_cug's lines hold TEXT.
until_syslog() {
  for _ in $(seq 600); do [ "$(syslog_count "$1")" -ge "$2" ] && return 0; sleep 0.05; done
  fail "syslog: $(syslog_count "$1") lines with '$1', not $2: $(cat "$SYSLOG")"
}

# session_open T SERVICE USER PIN PASSWORD: a login held open at terminal T
# (auth, account, open) until session_close T, as login(1) holds one.
session_open() {
  local t=$1 service=$2 user=$3 pin=$4 password=$5
  rm -f "$WORK/close$t" "$WORK/pam$t.out"
  in_pam "$t" "$service" "$user" -a "PIN=$pin" -a "Password=$password" \
    auth account open "wait=$WORK/close$t" close > "$WORK/pam$t.out" 2>&1 &
  PAM_PID[$t]=$!
  cleanup_pids+=($!)
  for _ in $(seq 1200); do
    grep -q '^open ' "$WORK/pam$t.out" && break
    kill -0 "${PAM_PID[$t]}" 2>/dev/null || break
    sleep 0.05
  done
  grep -qx 'open PAM_SUCCESS' "$WORK/pam$t.out" || fail "PAM login at terminal $t: $(cat "$WORK/pam$t.out")"
}

# session_close T: the session's end (close_session, then pam_end).
session_close() {
  local t=$1
  touch "$WORK/close$t"
  wait "${PAM_PID[$t]}" || fail "PAM session at terminal $t: $(cat "$WORK/pam$t.out")"
  grep -qx 'close PAM_SUCCESS' "$WORK/pam$t.out" || fail "close at terminal $t: $(cat "$WORK/pam$t.out")"
}

# registered: the users with a session at cugd, sorted, on one line.
registered() {
  expect 0 admin session list --json
  printf '%s' "$OUT" | json_get '" ".join(sorted(r["user"] for r in d))'
}
