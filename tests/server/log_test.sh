#!/usr/bin/env bash
# Logs: cugd under a stand-in for journald (its native socket, in a mount
# namespace of the test's own, and $JOURNAL_STREAM naming cugd's stderr as
# systemd sets it) sends each event as a journal entry with PRIORITY=,
# CUG_EVENT= and CUG_<KEY>= fields; cug-tun and cug-logout, on a plain
# stderr, write logfmt lines. --verbose adds the debug events; no password
# or PIN is ever in any of it (man/cug.7, LOGS).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
net_up 2
new_store
pcsc_start 3
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
patent_users --in VPN1 A B
JOURNAL="$WORK/journal.jsonl"
: > "$JOURNAL"

# cugd in the server's namespace; `ip netns exec` gives it a mount namespace
# of its own (slave to the host's: nothing mounted here reaches the host), in
# which a tmpfs over /run holds the stand-in's socket.
CUGD_PORT=7443
export WORK_LOG="$WORK/cugd.log"
ip netns exec "$NET_SERVER" sh -c '
  mount -t tmpfs -o mode=0755 cug-log-test /run || exit 71
  mkdir -p /run/systemd/journal
  python3 "$1" /run/systemd/journal/socket "$2" &
  echo $! > "$3.receiver"
  while [ ! -S /run/systemd/journal/socket ]; do kill -0 $! || exit 72; sleep 0.02; done
  shift 3
  exec 2>>"$WORK_LOG"
  JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2)
  export JOURNAL_STREAM
  exec "$@"' sh "$CUG_TESTS/support/journal.py" "$JOURNAL" "$WORK/cugd" \
  "$CUGD_BIN" --store "$STORE" --listen "[::]:$CUGD_PORT" --control-socket "$CUGD_SOCKET" \
  --verbose &
CUGD_PID=$!
cleanup_pids+=("$CUGD_PID")
receiver=""
until [ -S "$CUGD_SOCKET" ]; do
  # The stand-in is stopped by PID too, from the moment it has one.
  if [ -z "$receiver" ] && [ -s "$WORK/cugd.receiver" ]; then
    receiver=$(cat "$WORK/cugd.receiver"); cleanup_pids+=("$receiver")
  fi
  kill -0 "$CUGD_PID" 2>/dev/null || fail "cugd did not start: $(cat "$WORK/cugd.log" 2>/dev/null)"
  pause_us 20000
done
[ -n "$receiver" ] || { receiver=$(cat "$WORK/cugd.receiver"); cleanup_pids+=("$receiver"); }
SERVER="192.0.2.1:$CUGD_PORT"
SERVER_AT=("" "$SERVER" "$SERVER")

# entries EXPR: a Python expression over the journal's entries so far (as e).
entries() { python3 -c "import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; print($1)" "$JOURNAL"; }
# until_entry EVENT FIELD=VALUE...: waits for an entry of EVENT with those
# fields (up to 30 s: a bound for a busy machine), and prints it.
until_entry() {
  local event=$1; shift
  local want="{'CUG_EVENT': '$event'"
  for kv in "$@"; do want="$want, '${kv%%=*}': '${kv#*=}'"; done
  want="$want}"
  for _ in $(seq 600); do
    found=$(entries "next((x for x in e if $want.items() <= x.items()), '')")
    [ -n "$found" ] && { printf '%s\n' "$found"; return 0; }
    pause_us 50000
  done
  fail "no journal entry $want; the journal has: $(cat "$JOURNAL")"
}

started=$(until_entry started PRIORITY=6 SYSLOG_IDENTIFIER=cugd CUG_PORT=$CUGD_PORT)
contains "$started" "'CUG_STORE': '$STORE'"
contains "$started" "'MESSAGE': 'level=info event=started port=$CUGD_PORT store=$STORE"
[ "$(entries "sum(1 for x in e if '_MALFORMED' in x or '_MEMFD' in x)")" = 0 ] ||
  fail "entries the journal would not read: $(cat "$JOURNAL")"

tun_start 1; tun_start 2
expect 0 login 1 0 246800 passwd0-A
ok=$(until_entry login PRIORITY=5 CUG_USER=USER-A CUG_GROUPS=VPN1)
contains "$ok" "'CUG_TERMINAL': '192.0.2.11:"
contains "$ok" "'MESSAGE': 'level=notice event=login user=USER-A terminal=192.0.2.11:"
expect 10 login 2 1 246801 wrong-password
until_entry login_refused PRIORITY=4 CUG_USER=USER-B CUG_REASON=password > /dev/null
expect 0 login 2 1 246801 passwd1-B
until_entry login CUG_USER=USER-B > /dev/null
until_entry resume PRIORITY=6 CUG_USER=USER-B > /dev/null
# --verbose: the pushes that told A of B are debug entries.
until_entry push PRIORITY=7 CUG_USER=USER-A CUG_TYPE=peer-up > /dev/null
pass "cugd's events are journal entries: priority, event, user, terminal, groups, reason"

# The stream itself carries no events while the journal takes them.
if grep -q "event=" "$WORK/cugd.log"; then fail "cugd wrote events to stderr too: $(cat "$WORK/cugd.log")"; fi

# cug-tun, on a plain stderr: logfmt lines, named by the interface, no debug
# lines without --verbose.
grep -qx "cug-tun: level=notice event=session user=USER-A groups=VPN1 interface=cug0" "$WORK/tun1.log" ||
  fail "cug-tun's session line: $(cat "$WORK/tun1.log")"
grep -q "^cug-tun: level=info event=started socket=$WORK/t1/cug0.sock interface=cug0$" "$WORK/tun1.log" ||
  fail "cug-tun's started line: $(cat "$WORK/tun1.log")"
if grep -q "level=debug" "$WORK/tun1.log"; then fail "debug lines without --verbose: $(cat "$WORK/tun1.log")"; fi
expect 0 in_term 2 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t2"
until_entry session_ended PRIORITY=5 CUG_USER=USER-B CUG_REASON=logout > /dev/null
for _ in $(seq 600); do grep -q "event=logout" "$WORK/tun2.log" && break; pause_us 50000; done
grep -qx "cug-tun: level=notice event=logout user=USER-B reason=cug-logout cugd_told=yes interface=cug0" "$WORK/tun2.log" ||
  fail "cug-tun's logout line: $(cat "$WORK/tun2.log")"
pass "cug-tun logs logfmt lines on a plain stderr; logouts are logged at both ends"

kill -TERM "$CUGD_PID"
wait "$CUGD_PID" || fail "cugd did not stop cleanly on SIGTERM"
until_entry stopping PRIORITY=5 CUG_SIGNAL=TERM > /dev/null
# Never a secret: no password and no PIN anywhere in what was logged.
for secret in passwd0-A passwd1-B wrong-password 246800 246801; do
  if grep -rq -- "$secret" "$JOURNAL" "$WORK"/*.log; then fail "'$secret' was logged"; fi
done
pass "cugd logs its stop; no password or PIN is in any log"
