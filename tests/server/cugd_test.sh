#!/usr/bin/env bash
# cugd starts, speaks TLS 1.3 and nothing older, answers on its control
# socket, refuses a second instance, and stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"

expect 66 "$CUGD_BIN" --store "$STORE" --listen 127.0.0.1:1 --control-socket "$CUGD_SOCKET"
case "$ERR" in cugd:*"no store at"*) ;; *) fail "cugd without a store: $ERR" ;; esac
new_store
expect 64 "$CUGD_BIN" --store "$STORE" --listen nowhere --control-socket "$CUGD_SOCKET"
# Started by systemd (Type=notify), it says READY=1 once it serves: a
# datagram socket of our own stands in for systemd's.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
print(s.recv(4096).decode())' "$WORK/notify" > "$WORK/notified" 2>&1 &
listener=$!
cleanup_pids+=("$listener")
until [ -S "$WORK/notify" ]; do kill -0 "$listener" || fail "no notify listener"; pause_us 10000; done
NOTIFY_SOCKET="$WORK/notify" cugd_start
wait "$listener" || fail "cugd told nothing to \$NOTIFY_SOCKET: $(cat "$WORK/notified")"
contains "$(cat "$WORK/notified")" "READY=1"
contains "$(cat "$WORK/notified")" "STATUS=serving on port $CUGD_PORT"
ss -Htln | awk '{print $4}' | grep -qx "127.0.0.1:$CUGD_PORT" || fail "cugd is not listening on the port it announced"
pass "cugd tells its service manager when it serves"

if out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$CUGD_PORT" -tls1_2 2>&1); then
  fail "TLS 1.2 was negotiated: $out"
fi
contains "$out" "alert protocol version"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$CUGD_PORT" -tls1_3 2>&1) || fail "TLS 1.3: $out"
contains "$out" "New, TLSv1.3"
served=$(printf '%s' "$out" | openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER |
         openssl dgst -sha256 -binary | base64 | tr -d '=')
[ "SHA256:$served" = "$(admin server show --json | json_get 'd["key"]')" ] || fail "cugd serves another key"
pass "TLS 1.3 only, with the store's server key"

status=$(control 'cmd=status')
contains "$status" "errno=0"
contains "$status" "sessions=0"
contains "$(control 'cmd=nonsense')" "errno=1"
contains "$(control 'cmd=sessions')" "sessions=0"
pass "the control socket answers"

second=0
"$CUGD_BIN" --store "$STORE" --listen "127.0.0.1:$(free_port)" --control-socket "$CUGD_SOCKET" 2>"$WORK/second" || second=$?
[ "$second" -eq 75 ] || fail "a second cugd on the same socket exited $second: $(cat "$WORK/second")"
contains "$(cat "$WORK/second")" "another cugd is running"

start=$(date +%s%N)
cugd_stop
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ ! -e "$CUGD_SOCKET" ] || fail "the control socket outlived cugd"
echo "ok: SIGTERM stopped cugd in $ms ms"
pass "one cugd per socket; SIGTERM stops it and removes its socket"
