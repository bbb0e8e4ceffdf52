#!/usr/bin/env bash
# cugd starts, speaks TLS 1.3 and nothing older, answers on its control
# socket, refuses a second instance, and stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"

expect 66 "$CUGD_BIN" --store "$STORE" --listen 127.0.0.1:1 --control-socket "$CUGD_SOCKET"
case "$ERR" in cugd:*"no store at"*) ;; *) fail "cugd without a store: $ERR" ;; esac
new_store
expect 64 "$CUGD_BIN" --store "$STORE" --listen nowhere --control-socket "$CUGD_SOCKET"
cugd_start

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
