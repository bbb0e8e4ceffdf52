#!/usr/bin/env bash
# cugd killed at any moment of a login: cug-login either finishes (0) or says
# cugd went away (17), never a status that depends on where the kill landed.
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
tun_start 1
# How long a whole login takes here, to spread the kills over it.
cugd_start
start=${EPOCHREALTIME/./}
expect 0 login 1 0 246800 passwd0-A
took=$(( ${EPOCHREALTIME/./} - start ))
echo "ok: a login takes $((took / 1000)) ms here"
cugd_stop
trials=${CUG_GONE_TRIALS:-10}
declare -A seen=()
for trial in $(seq "$trials"); do
  cugd_start
  # Spread over the login's length, one slice a trial, at a random point of
  # it: the first slices are inside any login (a random spread over 1.5 times
  # the first login, which is the slowest, missed them all 1 run in 50).
  delay=$(( took * (trial - 1) / trials + (RANDOM * 32768 + RANDOM) % (took / trials + 1) ))
  in_term 1 "$CUG_BIN/cug-login" --server "${SERVER_AT[1]}" --reader "$(reader_name 0)" \
    --socket-dir "$WORK/t1" --pin-fd 3 --password-fd 4 3< <(echo 246800) 4< <(echo passwd0-A) \
    > /dev/null 2> "$WORK/login.err" &
  user=$!
  cleanup_pids+=("$user")
  pause_us "$delay"
  kill -9 "$CUGD_PID"; wait "$CUGD_PID" 2>/dev/null || true
  rm -f "$CUGD_SOCKET"; CUGD_PID=""
  status=0; wait "$user" || status=$?
  case $status in
    0|17) ;;
    *) fail "trial $trial: cugd killed $((delay / 1000)) ms into a login gave $status: $(cat "$WORK/login.err")" ;;
  esac
  seen[$status]=$(( ${seen[$status]:-0} + 1 ))
  echo "ok: trial $trial: killed after $((delay / 1000)) ms: $status $(cat "$WORK/login.err")"
done
[ "${seen[17]:-0}" -ge 1 ] || fail "no kill landed inside a login in $trials trials"
pass "cugd killed during a login: ${seen[0]:-0} logins finished, ${seen[17]:-0} said 17 (cugd went away)"
