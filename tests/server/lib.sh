# Shared by the daemon tests: a store (tests/admin/lib.sh), free TCP ports, and
# cugd started and stopped by PID.
. "$(dirname "${BASH_SOURCE[0]}")/../admin/lib.sh"
CUGD_BIN="$CUG_BIN/cugd"
CUGD_SOCKET="$WORK/cugd.sock"
CUGD_PID=""

free_port() {
  local port
  for _ in $(seq 50); do
    port=$(( (RANDOM % 20000) + 30000 ))
    ss -Htln | awk '{print $4}' | grep -q ":$port$" || { echo "$port"; return 0; }
  done
  return 1
}

# cugd_start [options]: on 127.0.0.1:$CUGD_PORT, waits for its control socket.
# With $CUGD_NS set (tests/support/netns.sh), in that namespace on every
# address and port $CUGD_PORT (7443 unless set).
cugd_start() {
  if [ -n "${CUGD_NS:-}" ]; then
    CUGD_PORT=${CUGD_PORT:-7443}
    ip netns exec "$CUGD_NS" "$CUGD_BIN" --store "$STORE" --listen "[::]:$CUGD_PORT" \
      --control-socket "$CUGD_SOCKET" "$@" 2>>"$WORK/cugd.log" &
  else
    CUGD_PORT=$(free_port)
    "$CUGD_BIN" --store "$STORE" --listen "127.0.0.1:$CUGD_PORT" --control-socket "$CUGD_SOCKET" "$@" \
      2>>"$WORK/cugd.log" &
  fi
  CUGD_PID=$!
  cleanup_pids+=("$CUGD_PID")
  for _ in $(seq 200); do
    [ -S "$CUGD_SOCKET" ] && return 0
    kill -0 "$CUGD_PID" 2>/dev/null || break
    sleep 0.02
  done
  fail "cugd did not start: $(cat "$WORK/cugd.log")"
}

cugd_stop() {
  [ -n "$CUGD_PID" ] || return 0
  kill "$CUGD_PID" 2>/dev/null || true
  wait "$CUGD_PID" 2>/dev/null || true
  CUGD_PID=""
}

# control 'cmd=...': one request on the control socket, the answer on stdout.
control() {
  python3 - "$CUGD_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].replace("\\n", "\n").encode() + b"\n\n")
data = b""
while not data.endswith(b"\n\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode(), end="")
PY
}

# patent_users [LETTER...]: USER-A..D (or the letters named), USER-X with
# password passwd<n>-X and a virtual card enrolled in reader n with PIN
# 24680<n>, n being the letter's place (A 0, B 1, ...); with --in GROUP
# first, each is made a member of GROUP too (needs tests/support/pcsc.sh and
# pcsc_start with enough readers).
patent_users() {
  local group="" n u
  if [ "${1:-}" = --in ]; then group=$2; shift 2; fi
  [ $# -gt 0 ] || set -- A B C D
  for u in "$@"; do
    n=$(( $(printf '%d' "'$u") - 65 ))
    expect 0 with_password "passwd$n-$u" admin user add "USER-$u" --password-fd 3
    card_init "$u"
    card_insert "$u" "$n"
    expect 0 admin card enroll "USER-$u" --reader "$(reader_name $n)" --new-pin-fd 3 3< <(echo "24680$n")
    [ -z "$group" ] || expect 0 admin member add "$group" "USER-$u"
  done
}
