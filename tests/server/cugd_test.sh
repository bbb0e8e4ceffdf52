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
# format=json: one JSON object with the same keys, numbers as numbers.
got=$(control 'cmd=status\nformat=json' | json_get 'd["errno"], d["sessions"], d["port"], sorted(d)')
[ "$got" = "0 0 $CUGD_PORT ['channels', 'errno', 'failed_handshakes', 'handshakes', 'port', 'reconcile_requests', 'refused_connections', 'refused_logins', 'refused_resumes', 'sessions', 'startups', 'uptime']" ] ||
  fail "cmd=status format=json: $got"
[ "$(control 'cmd=sessions\nformat=json' | json_get 'd')" = "{'sessions': [], 'errno': 0}" ] ||
  fail "cmd=sessions format=json: $(control 'cmd=sessions\nformat=json')"
[ "$(control 'cmd=kick\nuser=USER-Z\nformat=json' | json_get 'd')" = "{'errno': 1, 'message': 'USER-Z has no session'}" ] ||
  fail "a refusal in JSON: $(control 'cmd=kick\nuser=USER-Z\nformat=json')"
contains "$(control 'cmd=status\nformat=yaml')" "message=format= is json or kv"
pass "the control socket answers, in key=value or JSON"

# cug-admin server status asks the running cugd, as text or JSON.
expect 0 admin --cugd-socket "$CUGD_SOCKET" server status
contains "$OUT" "cugd: serving on port $CUGD_PORT, up "
contains "$OUT" "sessions: 0 (0 channels"
expect 0 admin --cugd-socket "$CUGD_SOCKET" server status --json
[ "$(printf '%s' "$OUT" | json_get 'd["port"], d["sessions"], "errno" in d')" = "$CUGD_PORT 0 False" ] ||
  fail "server status --json: $OUT"
expect 69 admin --cugd-socket "$WORK/nobody.sock" server status
contains "$ERR" "cug-admin: cugd does not answer on $WORK/nobody.sock"
pass "cug-admin server status, and 69 when no cugd answers"

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
