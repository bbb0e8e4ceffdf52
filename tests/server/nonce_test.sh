#!/usr/bin/env bash
# No direction key ever meets the same nonce twice, and no packet from before
# a change is taken after it, whatever happens: a random sequence of member
# del/add, user disable/enable, a new login at another terminal or the same
# one, cugd killed, cug-tun killed, and rotations, while A pings B in two
# groups. Every data packet the terminals send is captured; at the end each is
# opened under the key that sealed it (the store's pair keys, listed all along
# by cug-pair-keys) and no (key, counter) may come twice. After every change,
# packets captured before it are replayed: each must be dropped and counted.
#
# CUG_NONCE_STEPS (default 10) events are drawn; every kind at least once.
# CUG_NONCE_SEED repeats a sequence (the test prints the seed it used).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
: "${CUG_PAIR_KEYS:?CUG_PAIR_KEYS must name the cug-pair-keys program}"
capture_pids=()
stop_background() {
  [ "$BASHPID" = "$$" ] || return 0  # not in a background subshell (see tests/admin/lib.sh)
  touch "$WORK/stop-keys"
  for pid in "${capture_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap 'stop_background; pcsc_stop; cleanup; net_down' EXIT
NET="python3 $CUG_TESTS/support/net.py"

seed=${CUG_NONCE_SEED:-$RANDOM}
RANDOM=$seed
steps=${CUG_NONCE_STEPS:-10}
echo "seed $seed ($steps steps): CUG_NONCE_SEED=$seed repeats this sequence"

net_up 3
CUGD_NS=$NET_SERVER
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443" "192.0.2.1:7443")
new_store
pcsc_start 2
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
expect 0 admin group add VPN2 --prefix fd00:2::/64
n=0
for u in A B; do
  expect 0 with_password "passwd$n-$u" admin user add "USER-$u" --password-fd 3
  card_init "$u"
  card_insert "$u" "$n"
  expect 0 admin card enroll "USER-$u" --reader "$(reader_name $n)" --new-pin-fd 3 3< <(echo "24680$n")
  n=$((n + 1))
done
for m in "VPN1 USER-A" "VPN2 USER-A" "VPN1 USER-B" "VPN2 USER-B"; do expect 0 admin member add $m; done
cugd_start
for t in 1 2 3; do
  tun_start "$t" --no-offload   # one datagram per packet in the capture
  ip netns exec "$(term_ns "$t")" tcpdump --immediate-mode -Z root -i eth0 -Q out -U \
    -w "$WORK/out$t.pcap" udp src port 51820 2>"$WORK/tcpdump$t.log" &
  capture_pids+=($!); cleanup_pids+=($!)
done
for t in 1 2 3; do
  for _ in $(seq 600); do grep -q listening "$WORK/tcpdump$t.log" && break; sleep 0.05; done
  grep -q listening "$WORK/tcpdump$t.log" || fail "tcpdump $t: $(cat "$WORK/tcpdump$t.log")"
done
# Every key the store's sessions have, as long as the test runs: before and
# after every change, and in between.
keys_now() { "$CUG_PAIR_KEYS" list "$STORE" >> "$WORK/keys"; }
( while [ ! -e "$WORK/stop-keys" ]; do
    keys_now 2>/dev/null || true
    sleep 0.25
  done ) &
cleanup_pids+=($!)

A_T=1; B_T=2
login_a() { expect 0 login "$A_T" 0 246800 passwd0-A; }
login_b() { expect 0 login "$B_T" 1 246801 passwd1-B; }
addr_of() {  # addr_of USER GROUP: the user's overlay address in the group
  admin member list --json | json_get "[m['address'] for m in d if m['user'] == '$1' and m['group'] == '$2'][0]"
}
# Waits (a bound, not a measure) until A and B each hold the other in both
# groups with endpoints, and pings go through in both.
settle() {
  local want_a="USER-B@VPN1 USER-B@VPN2" want_b="USER-A@VPN1 USER-A@VPN2"
  local ends='" ".join(sorted(p["user"] + "@" + p["group"] for p in d["peers"] if p.get("endpoint")))'
  for _ in $(seq 600); do
    [ "$(show "$A_T" "$ends" 2>/dev/null)" = "$want_a" ] && [ "$(show "$B_T" "$ends" 2>/dev/null)" = "$want_b" ] && break
    sleep 0.05
  done
  [ "$(show "$A_T" "$ends")" = "$want_a" ] || fail "$1: A holds $(show "$A_T" "$ends")"
  [ "$(show "$B_T" "$ends")" = "$want_b" ] || fail "$1: B holds $(show "$B_T" "$ends")"
  B1=$(addr_of USER-B VPN1); B2=$(addr_of USER-B VPN2)
  local b
  for b in "$B1" "$B2"; do
    for _ in $(seq 60); do in_term "$A_T" ping -c 1 -W 1 "$b" >/dev/null 2>&1 && continue 2; done
    fail "$1: A cannot ping B at $b"
  done
}
# The pings carry this run's own payload pattern, so that they can be found
# whatever happened to the shell that started them.
PATTERN=$(printf '%04x%04x' $RANDOM $RANDOM)
traffic_start() {
  local b ns
  ns=$(term_ns "$A_T")  # here, not in the child, which then execs at once
  PINGS=()
  for b in "$B1" "$B2"; do
    ip netns exec "$ns" ping -q -p "$PATTERN" -i 0.02 -W 1 "$b" >/dev/null 2>&1 &
    PINGS+=($!); cleanup_pids+=($!)
  done
}
traffic_stop() {
  local pid
  for pid in "${PINGS[@]}"; do kill "$pid" 2>/dev/null || true; done
  pkill -f -- "-p $PATTERN" || true
  for pid in "${PINGS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for _ in $(seq 100); do pgrep -f -- "-p $PATTERN" >/dev/null || break; sleep 0.05; done
  # What was on its way arrives; then the counters stand still.
  local last="" now
  for _ in $(seq 100); do
    now="$(show "$A_T" '[p["rx_packets"] for p in d["peers"]]') $(show "$B_T" '[p["rx_packets"] for p in d["peers"]]')"
    [ "$now" = "$last" ] && return 0
    last=$now
    sleep 0.1
  done
  fail "the traffic did not stop"
}
underlay() { echo "192.0.2.1$1"; }
# The last two data packets of each pair (by the receiver index in the
# header) that A's terminal sent to B's, and B's to A's.
last_of_each_pair() {
  $NET datagrams "$1" 51820 "$2" | tail -400 |
    awk '{ i = substr($0, 9, 8); n[i]++; p[i, n[i]] = $0 } END { for (i in n) for (k = (n[i] > 2 ? n[i] - 1 : 1); k <= n[i]; k++) print p[i, k] }'
}
grab() {
  last_of_each_pair "$WORK/out$A_T.pcap" "$(underlay "$B_T")" > "$WORK/to_b"
  last_of_each_pair "$WORK/out$B_T.pcap" "$(underlay "$A_T")" > "$WORK/to_a"
  [ "$(wc -l < "$WORK/to_b")" -ge 4 ] && [ "$(wc -l < "$WORK/to_a")" -ge 4 ] ||
    fail "not every pair's packets were captured: $(cat "$WORK/to_b" "$WORK/to_a")"
}
dropped() { show "$1" 'sum(d["drops"].values())'; }
received() { show "$1" 'sum(p["rx_packets"] for p in d["peers"])'; }
# replay_check WHAT: the packets grabbed before the change, sent again (from
# the server's namespace, so they are not in the capture) to where A and B
# are now: every one dropped and counted, none delivered.
replay_check() {
  traffic_stop
  local t file n before rx
  for pair in "$B_T to_b" "$A_T to_a"; do
    read -r t file <<< "$pair"
    n=$(wc -l < "$WORK/$file")
    before=$(dropped "$t"); rx=$(received "$t")
    in_server $NET udp-file "$(underlay "$t")" 51820 "$WORK/$file"
    for _ in $(seq 200); do [ "$(dropped "$t")" -ge $((before + n)) ] && break; sleep 0.05; done
    [ "$(dropped "$t")" = $((before + n)) ] ||
      fail "$1: $n packets from before replayed at terminal $t, $(( $(dropped "$t") - before )) dropped: $(show "$t" 'd["drops"]')"
    [ "$(received "$t")" = "$rx" ] || fail "$1: a replayed packet was delivered at terminal $t"
  done
  echo "ok: $1: $(wc -l < "$WORK/to_b") + $(wc -l < "$WORK/to_a") packets from before replayed, all dropped and counted"
  traffic_start
}

# --- the events ---------------------------------------------------------------
ev_readd() {  # half the time with the address it had (the inner checks cannot help then)
  local same=()
  [ $((RANDOM % 2)) = 0 ] && same=(--address "$(addr_of USER-B VPN1)")
  echo "re-adding USER-B to VPN1 ${same[*]:-at a new address}"
  expect 0 admin member del VPN1 USER-B
  expect 0 admin member add VPN1 USER-B "${same[@]}"
}
ev_disable() {
  expect 0 admin user disable USER-B
  expect 0 admin user enable USER-B
  until_shows "$B_T" 'd["state"]' idle
  login_b
}
ev_elsewhere() {
  local old=$B_T
  B_T=$(( B_T == 2 ? 3 : 2 ))
  login_b
  until_shows "$old" 'd["state"]' idle
}
ev_relogin_a() { login_a; }
ev_cugd_kill() {
  kill -9 "$CUGD_PID"; wait "$CUGD_PID" 2>/dev/null || true
  rm -f "$CUGD_SOCKET"
  cugd_start
  for t in "$A_T" "$B_T"; do until_shows "$t" 'd["state"]' connected; done
}
ev_tun_restart() {
  kill -9 "${TUN_PID[$B_T]}"; wait "${TUN_PID[$B_T]}" 2>/dev/null || true
  rm -f "$WORK/t$B_T/cug0.sock"
  tun_start "$B_T" --no-offload
  login_b
}
ev_rotate() {
  local before; before=$(show "$A_T" '[g["key_id"] for g in d["groups"] if g["name"] == "VPN1"][0]')
  contains "$(control 'cmd=rotate')" "errno=0"
  for t in "$A_T" "$B_T"; do
    for _ in $(seq 600); do
      [ "$(show "$t" '[g["key_id"] for g in d["groups"] if g["name"] == "VPN1"][0]')" -gt "$before" ] && break
      sleep 0.05
    done
    [ "$(show "$t" '[g["key_id"] for g in d["groups"] if g["name"] == "VPN1"][0]')" -gt "$before" ] ||
      fail "rotation: terminal $t is still on epoch $before"
  done
}
kinds=(readd disable elsewhere relogin_a cugd_kill tun_restart rotate)
sequence=("${kinds[@]}")
while [ ${#sequence[@]} -lt "$steps" ]; do sequence+=("${kinds[RANDOM % ${#kinds[@]}]}"); done
for ((i = ${#sequence[@]} - 1; i > 0; i--)); do  # shuffled
  j=$((RANDOM % (i + 1))); tmp=${sequence[i]}; sequence[i]=${sequence[j]}; sequence[j]=$tmp
done
echo "events: ${sequence[*]}"

login_a; login_b
settle "the first logins"
traffic_start
step=0
for ev in "${sequence[@]}"; do
  step=$((step + 1))
  # Traffic flows for a moment under the keys of now ...
  for _ in $(seq 200); do [ "$(received "$B_T")" -gt "${last_rx:-0}" ] && break; sleep 0.05; done
  grab
  keys_now
  "ev_$ev"
  settle "step $step ($ev)"
  keys_now
  last_rx=$(received "$B_T")
  replay_check "step $step ($ev)"
done
traffic_stop
stop_background
for pid in "${capture_pids[@]}"; do wait "$pid" 2>/dev/null || true; done

# --- every packet under its key, no (key, counter) twice -----------------------
for t in 1 2 3; do $NET datagrams "$WORK/out$t.pcap" 51820; done > "$WORK/all"
"$CUG_PAIR_KEYS" open "$WORK/keys" < "$WORK/all" > "$WORK/opened"
packets=$(wc -l < "$WORK/opened")
keys=$(awk '$1 != "none" {print $1}' "$WORK/opened" | sort -u | wc -l)
[ "$packets" -gt 100 ] || fail "only $packets data packets were captured"
twice=$(grep -v '^none' "$WORK/opened" | sort | uniq -d | sed -n 1,3p)
[ -z "$twice" ] || fail "a (key, counter) was used twice: $twice"
unknown=$(grep -c '^none' "$WORK/opened" || true)
[ "$unknown" = 0 ] || fail "$unknown of $packets packets open under no key the store ever had: $(grep '^none' "$WORK/opened" | sed -n 1,3p)"
pass "$packets data packets under $keys direction keys over $steps changes: no key met a nonce twice"
