#!/usr/bin/env bash
# The data plane side by side (docs/BENCHMARKS.md, "Data plane"), as root:
#
#   bench/dataplane.sh [BUILD_DIR]      (default build/release)
#
# Two network namespaces joined by one veth pair; in one run, iperf3 over the
# bare veth, through cug-tun (cugd, two users with virtual cards, real logins),
# through OpenVPN (Debian's, userspace, AES-256-GCM, --peer-fingerprint) and
# through wireguard-go (Debian's): 1 and 4 TCP streams, the median of
# $CUG_BENCH_RUNS runs (3) of $CUG_BENCH_SECONDS seconds (10) each; CPU
# seconds per GB moved (all CPUs, from /proc/stat); round-trip time by ping
# (the tunnel's minus the veth's); cug-tun's peak resident memory. Then the
# control plane as the data plane sees it: revocation latency and roaming
# convergence. Prints a table; changes nothing outside its namespaces and a
# temporary directory, which it removes.
set -euo pipefail
umask 077
build=$(cd "${1:-build/release}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
runs=${CUG_BENCH_RUNS:-3}
seconds=${CUG_BENCH_SECONDS:-10}
[ "$(id -u)" -eq 0 ] || { echo "dataplane.sh: needs root (namespaces, TUN devices)" >&2; exit 77; }
"$here/../scripts/install-deps" bench

CUG_BIN="$build/cmd"
export CUG_VCARD="$build/tests/cug-vcard" CUG_CARD_WAIT="$build/tests/cug-card-wait"
. "$here/../tests/support/pcsc.sh"
. "$here/../tests/support/netns.sh"
. "$here/../tests/support/terminals.sh"
WORK=$(mktemp -d /tmp/cug-bench.XXXXXX)
cleanup_pids=()
fail() { echo "dataplane.sh: $*" >&2; exit 1; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
stop_pids() {
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
teardown() {
  [ "$BASHPID" = "$$" ] || return 0  # not in a background subshell (see tests/admin/lib.sh)
  stop_pids "${cleanup_pids[@]}"
  pcsc_stop
  net_down
  rm -rf "$WORK"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# --- phase 1: two namespaces on one veth pair (terminal 1 also runs cugd) ---
NET_ID="cug-bench-$$-$RANDOM"
NET_TERMINALS=2
NET_SERVER="$NET_ID-t1"  # so that net_down finds them; cugd runs here
for t in 1 2; do
  ip netns add "$(term_ns "$t")"
  in_term "$t" ip link set lo up
done
in_term 1 ip link add eth0 type veth peer name eth0 netns "$(term_ns 2)"
for t in 1 2; do
  in_term "$t" ip addr add "192.0.2.$t/24" dev eth0
  in_term "$t" ip addr add "fd00:0:2::$t/64" dev eth0 nodad
  in_term "$t" ip link set eth0 up
done

# iperf_run FROM ADDRESS STREAMS: "<bits/s> <bytes> <cpu seconds>"
iperf_run() {
  local from=$1 addr=$2 streams=$3 before after out
  ip netns exec "$(term_ns 2)" iperf3 -s -1 -B "$addr" >/dev/null 2>&1 &
  local server=$!
  for _ in $(seq 100); do in_term 2 ss -Htln | grep -q ":5201 " && break; sleep 0.02; done
  before=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat)
  out=$(in_term "$from" iperf3 -c "$addr" -t "$seconds" -P "$streams" -J) || { stop_pids "$server"; echo "0 0 0"; return; }
  after=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat)
  wait "$server" 2>/dev/null || true
  printf '%s' "$out" | python3 -c "
import json, sys
d = json.load(sys.stdin)['end']['sum_received']
print(d['bits_per_second'], d['bytes'], ($after - $before) / $(getconf CLK_TCK))"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
rtt_us() {  # rtt_us FROM ADDRESS: average round trip in microseconds
  in_term "$1" ping -q -c 300 -i 0.002 "$2" | awk -F/ '/^rtt/ {printf "%.0f", $5 * 1000}'
}
declare -A RESULT=()
measure() {  # measure NAME ADDRESS
  local name=$1 addr=$2 streams r rates cpu bytes line
  for streams in 1 4; do
    rates="" cpu=0 bytes=0
    for ((r = 0; r < runs; r++)); do
      line=$(iperf_run 1 "$addr" "$streams")
      rates+="$(echo "$line" | cut -d' ' -f1)"$'\n'
      bytes=$(echo "$bytes $(echo "$line" | cut -d' ' -f2)" | awk '{print $1 + $2}')
      cpu=$(echo "$cpu $(echo "$line" | cut -d' ' -f3)" | awk '{print $1 + $2}')
    done
    RESULT[$name,$streams]=$(printf '%s' "$rates" | median)
    RESULT[$name,cpu$streams]=$(awk -v c="$cpu" -v b="$bytes" 'BEGIN {printf "%.2f", (b > 0 ? c / (b / 1e9) : 0)}')
  done
  RESULT[$name,rtt]=$(rtt_us 1 "$addr")
  printf '  %-13s 1 stream %6.2f Gbit/s, 4 streams %6.2f Gbit/s, rtt %s us\n' "$name" \
    "$(awk -v b="${RESULT[$name,1]}" 'BEGIN {print b / 1e9}')" \
    "$(awk -v b="${RESULT[$name,4]}" 'BEGIN {print b / 1e9}')" "${RESULT[$name,rtt]}" >&2
}

echo "measuring: ${runs} runs of ${seconds} s per figure" >&2
measure veth 192.0.2.2

# --- cug-tun -----------------------------------------------------------------
export CUG_CUGD_SOCKET="$WORK/cugd.sock"
STORE="$WORK/store"
admin() { "$CUG_BIN/cug-admin" --store "$STORE" "$@"; }
admin init --server-name bench --password-cost "m=8,t=1,p=1" >/dev/null
admin group add VPN1 --prefix 198.51.100.0/24 >/dev/null
pcsc_start 4
n=0
for u in A B; do
  admin user add "USER-$u" --password-fd 3 3< <(echo "passwd-$u") >/dev/null
  card_init "$u"
  card_insert "$u" "$n"
  admin card enroll "USER-$u" --reader "$(reader_name $n)" --new-pin-fd 3 3< <(echo "24680$n") >/dev/null
  admin member add VPN1 "USER-$u" >/dev/null
  n=$((n + 1))
done
start_cugd() {
  ip netns exec "$NET_SERVER" "$CUG_BIN/cugd" --store "$STORE" --listen "[::]:7443" \
    --control-socket "$CUG_CUGD_SOCKET" 2>>"$WORK/cugd.log" &
  cleanup_pids+=($!)
  for _ in $(seq 200); do [ -S "$CUG_CUGD_SOCKET" ] && break; sleep 0.02; done
}
wait_peers() {  # wait_peers T...: until each knows one peer with its endpoint
  local t
  for t in "$@"; do
    for _ in $(seq 100); do
      [ "$(show "$t" 'len([p for p in d["peers"] if p.get("endpoint")])')" = 1 ] && break
      sleep 0.05
    done
  done
}
start_cugd
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443")
for t in 1 2; do tun_start "$t"; done
login 1 0 246800 passwd-A >/dev/null || fail "USER-A's login"
login 2 1 246801 passwd-B >/dev/null || fail "USER-B's login"
wait_peers 1 2
measure cug-tun 198.51.100.2
RESULT[cug-tun,rss]=$(for t in 1 2; do awk '/VmHWM/ {print $2}' "/proc/${TUN_PID[$t]}/status"; done | sort -n | tail -1)

for t in 1 2; do tun_stop "$t"; done
stop_pids "${cleanup_pids[@]}"
cleanup_pids=()
rm -f "$CUG_CUGD_SOCKET"

# --- OpenVPN (userspace, AES-256-GCM, no CA: each side pins the other's
# certificate) -----------------------------------------------------------------
for side in a b; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$side" \
    -keyout "$WORK/$side.key" -out "$WORK/$side.crt" 2>/dev/null
done
fp() { openssl x509 -in "$WORK/$1.crt" -noout -fingerprint -sha256 | cut -d= -f2; }
ovpn() {  # ovpn TERMINAL SIDE OTHER LOCAL REMOTE [client options]
  local t=$1 side=$2 other=$3 local_ip=$4 remote_ip=$5; shift 5
  ip netns exec "$(term_ns "$t")" openvpn --dev ovpn0 --dev-type tun --proto udp --port 1194 \
    --ifconfig "$local_ip" "$remote_ip" --cert "$WORK/$side.crt" --key "$WORK/$side.key" \
    --peer-fingerprint "$(fp "$other")" --data-ciphers AES-256-GCM --disable-dco --dh none \
    --verb 1 --log "$WORK/ovpn-$side.log" "$@" &
  cleanup_pids+=($!)
}
ovpn 2 b a 203.0.113.2 203.0.113.1 --tls-server
ovpn 1 a b 203.0.113.1 203.0.113.2 --tls-client --remote 192.0.2.2
for _ in $(seq 200); do in_term 1 ping -c 1 -W 1 203.0.113.2 >/dev/null 2>&1 && break; sleep 0.1; done
measure OpenVPN 203.0.113.2
stop_pids "${cleanup_pids[@]}"
cleanup_pids=()

# --- wireguard-go ---------------------------------------------------------------
for t in 1 2; do
  wg genkey > "$WORK/wg$t.key"
  wg pubkey < "$WORK/wg$t.key" > "$WORK/wg$t.pub"
  ip netns exec "$(term_ns "$t")" env LOG_LEVEL=error WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "wg$t" >/dev/null 2>&1 &
  cleanup_pids+=($!)
done
for t in 1 2; do
  # One name per namespace: wireguard-go's control socket is /run/wireguard/NAME.sock,
  # and the file system is shared.
  for _ in $(seq 100); do in_term "$t" ip link show "wg$t" >/dev/null 2>&1 && break; sleep 0.05; done
  o=$((3 - t))
  in_term "$t" wg set "wg$t" private-key "$WORK/wg$t.key" listen-port 51821 \
    peer "$(cat "$WORK/wg$o.pub")" allowed-ips "203.0.113.$((100 + o))/32" endpoint "192.0.2.$o:51821"
  in_term "$t" ip addr add "203.0.113.$((100 + t))/24" dev "wg$t"
  in_term "$t" ip link set "wg$t" mtu 1420 up
done
for _ in $(seq 100); do in_term 1 ping -c 1 -W 1 203.0.113.102 >/dev/null 2>&1 && break; sleep 0.1; done
measure wireguard-go 203.0.113.102
stop_pids "${cleanup_pids[@]}"
cleanup_pids=()

# --- phase 2: the control plane as the data plane sees it, on the test
# topology (a server and three terminals on a bridge) -------------------------
net_down
net_up 3
start_cugd
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443" "192.0.2.1:7443")
for t in 1 2 3; do tun_start "$t"; done
login 1 0 246800 passwd-A >/dev/null || fail "USER-A's login"
login 2 1 246801 passwd-B >/dev/null || fail "USER-B's login"
wait_peers 1 2
# Roaming: B pings A's overlay address; A logs in at terminal 3: the time from
# the start of the login to the first packet of B's that A receives there.
ip netns exec "$(term_ns 2)" ping -i 0.005 198.51.100.1 >/dev/null 2>&1 &
flood=$!
cleanup_pids+=("$flood")
card_pull A
card_insert A 2
start=$(date +%s%N)
login 3 2 246800 passwd-A >/dev/null || fail "USER-A's login at terminal 3"
login_done=$(date +%s%N)
for _ in $(seq 2000); do
  [ "$(show 3 'sum(p["rx_packets"] for p in d["peers"])')" -gt 0 ] && break
  sleep 0.002
done
RESULT[roam]=$(( ($(date +%s%N) - start) / 1000000 ))
RESULT[roam_login]=$(( (login_done - start) / 1000000 ))
# Revocation: B is removed from VPN1 while it pings A: the time until A (now
# at terminal 3) holds no key of B's, so B's packets are dropped there.
start=$(date +%s%N)
admin member del VPN1 USER-B >/dev/null
for _ in $(seq 2000); do
  [ "$(show 3 'len(d["peers"])')" = 0 ] && break
  sleep 0.002
done
RESULT[revoke]=$(( ($(date +%s%N) - start) / 1000000 ))
stop_pids "$flood"

# --- the table ------------------------------------------------------------------
gbit() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1e9}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "data plane, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "iperf3 TCP, median of $runs runs of $seconds s; CPU s/GB over all CPUs; rtt = ping average"
printf '%-14s %12s %12s %10s %10s %10s\n' "" "1 stream" "4 streams" "CPU s/GB" "rtt us" "added us"
for name in veth cug-tun OpenVPN wireguard-go; do
  printf '%-14s %7s Gb/s %7s Gb/s %10s %10s %10s\n' "$name" "$(gbit "${RESULT[$name,1]}")" \
    "$(gbit "${RESULT[$name,4]}")" "${RESULT[$name,cpu1]}" "${RESULT[$name,rtt]}" \
    "$((RESULT[$name,rtt] - RESULT[veth,rtt]))"
done
echo
echo "cug-tun / OpenVPN:      1 stream $(ratio "${RESULT[cug-tun,1]}" "${RESULT[OpenVPN,1]}"), 4 streams $(ratio "${RESULT[cug-tun,4]}" "${RESULT[OpenVPN,4]}")"
echo "cug-tun / wireguard-go: 1 stream $(ratio "${RESULT[cug-tun,1]}" "${RESULT[wireguard-go,1]}"), 4 streams $(ratio "${RESULT[cug-tun,4]}" "${RESULT[wireguard-go,4]}")"
echo "cug-tun / veth:         1 stream $(ratio "${RESULT[cug-tun,1]}" "${RESULT[veth,1]}"), 4 streams $(ratio "${RESULT[cug-tun,4]}" "${RESULT[veth,4]}")"
echo "cug-tun peak resident memory: $((RESULT[cug-tun,rss] / 1024)) MiB ($((RESULT[cug-tun,rss])) kB)"
echo "roaming convergence (login at a new terminal -> first packet there): ${RESULT[roam]} ms, of which the login itself (card, PIN, password) ${RESULT[roam_login]} ms"
echo "revocation (cug-admin member del -> the peer holds no key of the revoked user): ${RESULT[revoke]} ms"
