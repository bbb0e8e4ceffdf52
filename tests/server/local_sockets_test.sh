#!/usr/bin/env bash
# The local sockets (cugd's control socket, cug-tun's agent socket): idle and
# dripping clients delay nobody, a bad request changes nothing, and the
# sockets' directories are checked, never changed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT

net_up 1
CUGD_NS=$NET_SERVER
SERVER_AT=("" "192.0.2.1:7443")
new_store
pcsc_start 2
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
patent_users --in VPN1 A
cugd_start
tun_start 1
AGENT="$WORK/t1/cug0.sock"
ms_since() { echo $(( (${EPOCHREALTIME/./} - ${1/./}) / 1000 )); }
# hold NAME PATH N [DRIP]: N connections to a local socket held open until release NAME.
hold() {
  mkfifo "$WORK/$1.in"
  DRIP=${4:-0} python3 "$CUG_TESTS/support/flood.py" local "$2" "$3" < "$WORK/$1.in" > "$WORK/$1.out" 2>&1 &
  cleanup_pids+=($!)
  eval "exec {FEED_$1}> \"\$WORK/\$1.in\""
  for _ in $(seq 600); do [ -s "$WORK/$1.out" ] && break; sleep 0.05; done
  contains "$(cat "$WORK/$1.out")" "opened $3"
}
release() { eval "exec {FEED_$1}>&-"; }
# ask PATH 'cmd=...': one request, the answer (10 s at most: a bound, not a measure).
ask() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(sys.argv[2].replace("\\n", "\n").encode() + b"\n\n")
except (BrokenPipeError, ConnectionResetError):
    pass  # a server that refuses answers first and closes: its answer is still there to read
data = b""
try:
    while not data.endswith(b"\n\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    print("(no answer within 10 s)")
print(data.decode(), end="")
PY
}

# --- cugd: 97 idle and 3 dripping clients on the control socket -------------
# Past the cap of 64 at once: each newcomer closes the oldest that has not
# sent a request (tests/net/local_test checks the order exactly).
hold idle "$CUGD_SOCKET" 97
hold drip "$CUGD_SOCKET" 3 1
start=$EPOCHREALTIME
contains "$(ask "$CUGD_SOCKET" 'cmd=status')" "errno=0"
echo "ok: cmd=status answered in $(ms_since "$start") ms after 100 idle and dripping clients connected"
release idle; release drip
pass "cugd's control socket: 100 idle and dripping clients do not delay a status"

# --- cug-tun: 97 idle and 3 dripping clients on the agent socket -------------
hold tidle "$AGENT" 97
hold tdrip "$AGENT" 3 1
start=$EPOCHREALTIME
expect 0 login 1 0 246800 passwd0-A
echo "ok: a login took $(ms_since "$start") ms after 100 idle and dripping clients connected to cug-tun"
start=$EPOCHREALTIME
expect 0 "$TUN" --socket-dir "$WORK/t1" show --json
echo "ok: cug-tun show answered in $(ms_since "$start") ms beside them"
[ "$(printf '%s' "$OUT" | json_get 'd["state"], d["user"]')" = "connected USER-A" ] || fail "show: $OUT"

# --- validate, then act: a bad request changes nothing ------------------------
contains "$(ask "$AGENT" 'cmd=session')" "errno=1"
contains "$(ask "$AGENT" 'cmd=session\nuser=USER-A')" "errno=1"
contains "$(ask "$AGENT" "cmd=logout\nreason=$(printf 'x%.0s' $(seq 65))")" "errno=1"
contains "$(ask "$AGENT" 'cmd=logout\nwho=me')" "errno=1"
contains "$(ask "$AGENT" 'cmd=show\nextra=1')" "errno=1"
contains "$(ask "$AGENT" 'cmd=frobnicate')" "unknown command"
until_shows 1 'd["state"], d["user"]' "connected USER-A"
contains "$(control 'cmd=kick')" "errno=1"
contains "$(control 'cmd=kick\nuser=bad name')" "errno=1"
contains "$(control 'cmd=rotate\ngroup=NOPE')" "no group"
contains "$(control 'cmd=status\nextra=1')" "errno=1"
contains "$(control 'cmd=sessions')" "sessions=1"
key_before=$(show 1 'd["groups"][0]["key_id"]')
contains "$(control 'cmd=rotate\ngroup=bad/name')" "errno=1"
[ "$(show 1 'd["groups"][0]["key_id"]')" = "$key_before" ] || fail "a refused rotate rotated"
until_shows 1 'd["state"], d["user"]' "connected USER-A"
pass "malformed requests to cug-tun and cugd are refused and change nothing"

start=$EPOCHREALTIME
expect 0 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t1"
echo "ok: cug-logout took $(ms_since "$start") ms"
contains "$OUT" "logged out"
release tidle; release tdrip
pass "cug-tun's socket: 100 idle and dripping clients delay neither a login, show nor logout"

# --- socket directories: checked, never changed -------------------------------
tmp_mode=$(stat -c %a /tmp)
expect 77 "$CUGD_BIN" --store "$STORE" --listen "127.0.0.1:$(free_port)" --control-socket "/tmp/cug-test-$$.sock"
contains "$ERR" "others may write"
[ "$(stat -c %a /tmp)" = "$tmp_mode" ] || fail "/tmp's mode changed"
[ ! -e "/tmp/cug-test-$$.sock" ] || fail "a socket was left in /tmp"
mkdir -m 0777 "$WORK/wide"
chmod 0777 "$WORK/wide"
expect 77 in_term 1 "$TUN" --socket-dir "$WORK/wide" --interface cug9
[ "$(stat -c %a "$WORK/wide")" = 777 ] || fail "a directory's mode was changed"
mkdir -m 0700 "$WORK/private"
cugd_stop
CUGD_SOCKET="$WORK/private/cugd.sock"
cugd_start
[ "$(stat -c %a "$WORK/private")" = 700 ] || fail "cugd changed a 0700 directory to $(stat -c %a "$WORK/private")"
mkdir -m 0700 "$WORK/theirs"
chown nobody "$WORK/theirs"
cugd_stop
expect 77 "$CUGD_BIN" --store "$STORE" --listen "127.0.0.1:$(free_port)" --control-socket "$WORK/theirs/cugd.sock"
contains "$ERR" "belongs to uid"
ip netns exec "$(term_ns 1)" "$TUN" --socket-dir "$WORK/made/here" --interface cug8 2>>"$WORK/tun8.log" &
cleanup_pids+=($!)
for _ in $(seq 600); do [ -S "$WORK/made/here/cug8.sock" ] && break; sleep 0.05; done
[ -S "$WORK/made/here/cug8.sock" ] || fail "cug-tun did not start in a new directory: $(cat "$WORK/tun8.log")"
[ "$(stat -c %a "$WORK/made/here")" = 750 ] || fail "a missing socket directory was made $(stat -c %a "$WORK/made/here")"
pass "sockets go only in directories that are ours and closed to others; those are never changed, missing ones made 0750"
