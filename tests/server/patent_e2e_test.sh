#!/usr/bin/env bash
# The patent's scenario with traffic (JP 2000-059357, drawings 1, 9 and 2): a
# server namespace and four terminal namespaces on one bridge, the real pcscd
# with four virtual cards, cugd, and a cug-tun with a real TUN device per
# terminal. Users A and B share VPN1 (IPv4 inside), C and D VPN2 (IPv6
# inside); terminals 1 and 3 reach cugd over IPv6, 2 and 4 over IPv4.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
NET="python3 $CUG_TESTS/support/net.py"

net_up 4
CUGD_NS=$NET_SERVER
SERVER_AT=("" "[fd00:0:2::1]:7443" "192.0.2.1:7443" "[fd00:0:2::1]:7443" "192.0.2.1:7443")
new_store
pcsc_start 4
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
expect 0 admin group add VPN2 --prefix fd00:2::/64
patent_users
for m in "VPN1 USER-A" "VPN1 USER-B" "VPN2 USER-C" "VPN2 USER-D"; do expect 0 admin member add $m; done
A=198.51.100.1; B=198.51.100.2; C=fd00:2::1; D=fd00:2::2
cugd_start
# Terminals 2 and 3 run cug-tun as nobody after set-up, keeping only
# CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (the resolver's port 53; terminal 3
# gets A's address live after the swap); terminal 4 without offloads (its
# peers, with them, send and read the same packets).
# Terminal 4 has systemd-resolved (tests/support/with_resolved.sh), and its
# cug-tun points it at the session's names.
# Terminal 2 has the system-DNS thread too (auto: as nobody it can change
# nothing), which must hold no more than the rest.
tun_start 1; tun_start 2 --user nobody --dns-config auto; tun_start 3 --user nobody
TUN_WRAP=("$CUG_TESTS/support/with_resolved.sh" "$WORK/resolved4")
tun_start 4 --no-offload --dns-config resolved
TUN_WRAP=()
read -r -a resolved_pids < "$WORK/resolved4/pids"
cleanup_pids+=("${resolved_pids[@]}")
[ "$(show 1 'd["offload"]') $(show 4 'd["offload"]')" = "True False" ] ||
  fail "offloads: terminal 1 $(show 1 'd["offload"]'), terminal 4 $(show 4 'd["offload"]')"
for t in 2 3; do
  for _ in $(seq 50); do [ "$(ps -o user= -p "${TUN_PID[$t]}")" = nobody ] && break; sleep 0.02; done
  [ "$(ps -o user= -p "${TUN_PID[$t]}")" = nobody ] || fail "terminal $t's cug-tun runs as $(ps -o user= -p "${TUN_PID[$t]}")"
  # Every thread: capabilities and no_new_privs are per thread.
  for task in "/proc/${TUN_PID[$t]}"/task/*; do
    grep -q '^CapEff:.*0000000000001400$' "$task/status" && grep -q '^CapPrm:.*0000000000001400$' "$task/status" &&
      grep -q '^NoNewPrivs:\s*1$' "$task/status" ||
      fail "terminal $t's cug-tun thread ${task##*/}: $(grep 'Cap\(Eff\|Prm\)\|NoNewPrivs' "$task/status")"
  done
  [ "$(ls "/proc/${TUN_PID[$t]}/task" | wc -l)" -gt 1 ] || fail "terminal $t's cug-tun has one thread"
done

# --- drawing 1: A at terminal 1, B at 2, C at 3, D at 4 ----------------------
expect 0 login 1 0 246800 passwd0-A
expect 0 login 2 1 246801 passwd1-B
expect 0 login 3 2 246802 passwd2-C
expect 0 login 4 3 246803 passwd3-D
until_shows 1 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-B', '192.0.2.12:51820')]"
until_shows 2 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-A', '[fd00:0:2::11]:51820')]"
until_shows 3 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-D', '192.0.2.14:51820')]"
until_shows 4 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-C', '[fd00:0:2::13]:51820')]"
in_term 1 ip -brief addr show cug0 | grep -q "$A/24" || fail "terminal 1's cug0: $(in_term 1 ip -brief addr show cug0)"
in_term 3 ip -brief addr show cug0 | grep -q "$C/64" || fail "terminal 3's cug0: $(in_term 3 ip -brief addr show cug0)"
pings() { in_term "$1" ping -c "${3:-3}" -i 0.2 -W 1 "$2" >"$WORK/ping.out" 2>&1; }
pings 1 "$B" || fail "A cannot ping B: $(cat "$WORK/ping.out")"
pings 2 "$A" || fail "B cannot ping A: $(cat "$WORK/ping.out")"
pings 3 "$D" || fail "C cannot ping D: $(cat "$WORK/ping.out")"
pings 4 "$C" || fail "D cannot ping C: $(cat "$WORK/ping.out")"
[ "$(show 1 'd["peers"][0]["rx_packets"] >= 3 and d["peers"][0]["tx_packets"] >= 3')" = True ] ||
  fail "terminal 1's counters: $(show 1 'd["peers"]')"

# A TCP connection inside each group carries data intact.
tcp_ok() {  # tcp_ok FROM TO_TERMINAL ADDRESS BYTES [MBPS]: a transfer, checked end to end
  local from=$1 to=$2 addr=$3 bytes=$4 mbps=${5:-}
  rm -f "$WORK/served" "$WORK/served.ready"
  ip netns exec "$(term_ns "$to")" $NET serve "$addr" 5001 "$WORK/served" &
  local server=$!
  cleanup_pids+=("$server")
  for _ in $(seq 100); do [ -e "$WORK/served.ready" ] && break; sleep 0.02; done
  local sent
  sent=$(in_term "$from" $NET send "$addr" 5001 "$bytes" $mbps) || fail "TCP to $addr from terminal $from failed"
  wait "$server" || fail "the TCP server at $addr failed"
  [ "$(cat "$WORK/served")" = "$sent" ] || fail "TCP to $addr: sent $sent, received $(cat "$WORK/served")"
}
tcp_ok 1 2 "$B" 3000000
tcp_ok 4 3 "$C" 3000000
pass "drawing 1: A and B reach each other in VPN1, C and D in VPN2 (ping, TCP)"

# --- names: each terminal resolves its groups' members ----------------------
# dig_at T SERVER ARGS...: the short answer of a query at terminal T to the
# resolver at SERVER; status_at the same query's status.
dig_at() { local t=$1 s=$2; shift 2; in_term "$t" dig +time=5 +tries=1 +short "@$s" "$@"; }
status_at() {
  local t=$1 s=$2; shift 2
  in_term "$t" dig +time=5 +tries=1 "@$s" "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}
# with_resolver T CMD...: CMD at terminal T, its /etc/resolv.conf naming the
# terminal's own resolver with `search cug` (in a private mount namespace:
# the host's file is untouched).
with_resolver() {
  local t=$1; shift
  in_term "$t" unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$WORK/resolv$t.conf" "$@"
}
printf 'nameserver %s\nsearch cug\noptions timeout:5 attempts:1\n' "$A" > "$WORK/resolv1.conf"
printf 'nameserver %s\nsearch cug\noptions timeout:5 attempts:1\n' "$B" > "$WORK/resolv2.conf"
[ "$(dig_at 2 "$B" USER-A.VPN1.cug A)" = "$A" ] || fail "USER-A.VPN1.cug at terminal 2: $(dig_at 2 "$B" USER-A.VPN1.cug A)"
[ "$(dig_at 2 "$B" user-b.vpn1.CUG A)" = "$B" ] || fail "B's own name at terminal 2"
[ "$(dig_at 4 "$D" USER-C.VPN2.cug AAAA)" = "$C" ] || fail "USER-C.VPN2.cug at terminal 4: $(dig_at 4 "$D" USER-C.VPN2.cug AAAA)"
[ "$(dig_at 2 "$B" -x "$A")" = "user-a.vpn1.cug." ] || fail "A's PTR at terminal 2: $(dig_at 2 "$B" -x "$A")"
[ "$(with_resolver 2 getent hosts USER-A.VPN1.cug | awk '{print $1}')" = "$A" ] ||
  fail "getent at terminal 2: $(with_resolver 2 getent hosts USER-A.VPN1.cug)"
[ "$(with_resolver 2 getent hosts USER-A.VPN1 | awk '{print $1}')" = "$A" ] ||
  fail "the search domain at terminal 2: $(with_resolver 2 getent hosts USER-A.VPN1)"
with_resolver 1 ping -c 1 -W 2 USER-B.VPN1.cug > "$WORK/ping.out" 2>&1 || fail "ping USER-B.VPN1.cug from terminal 1: $(cat "$WORK/ping.out")"
[ "$(status_at 2 "$B" USER-C.VPN2.cug AAAA)" = NXDOMAIN ] || fail "USER-C.VPN2.cug at terminal 2: $(status_at 2 "$B" USER-C.VPN2.cug AAAA)"
[ "$(status_at 2 "$B" VPN2.cug SOA)" = NXDOMAIN ] || fail "VPN2.cug at terminal 2"
[ "$(status_at 2 "$B" www.example.com A)" = REFUSED ] || fail "www.example.com at terminal 2: $(status_at 2 "$B" www.example.com A)"
[ "$(status_at 2 "$B" USER-A.VPN1.cug ANY)" = NOTIMP ] || fail "ANY at terminal 2"
[ "$(in_term 2 dig +tcp +time=5 +tries=1 +short "@$B" USER-A.VPN1.cug A)" = "$A" ] || fail "the resolver over TCP"
# A peer cannot ask B's resolver through the tunnel: nothing comes back.
before=$(show 2 'd["dns"]["queries"]["not_local"]')
in_term 1 dig +time=1 +tries=1 "@$B" USER-A.VPN1.cug > /dev/null && fail "A's query reached B's resolver"
[ "$(show 2 'd["dns"]["queries"]["not_local"]')" -gt "$before" ] || fail "B's resolver did not count A's query as not local"
[ "$(show 2 '" ".join(n["name"] + "=" + n["address"] for n in d["names"])')" = "user-a.vpn1.cug.=$A user-b.vpn1.cug.=$B user-a.cug.=$A user-b.cug.=$B" ] ||
  fail "terminal 2's names: $(show 2 'd["names"]')"
pass "names: USER-A.VPN1.cug at terminal 2 (dig, getent, search domain), ping by name, PTR; another group's names NXDOMAIN, others REFUSED, peers get nothing"
# Terminal 4 through systemd-resolved: the link's DNS, its domains, and
# getent through the stub resolver (127.0.0.53).
in_resolved() { nsenter -t "${TUN_PID[4]}" -m -n "$@"; }
for _ in $(seq 200); do in_resolved resolvectl dns cug0 | grep -q "$D" && break; sleep 0.05; done
contains "$(in_resolved resolvectl dns cug0)" "$D"
contains "$(in_resolved resolvectl domain cug0)" "cug ~0.0.0.0.0.0.0.0.2.0.0.0.0.0.d.f.ip6.arpa"
contains "$(in_resolved resolvectl status cug0)" "-DefaultRoute -LLMNR -mDNS"
[ "$(in_resolved getent hosts USER-C.VPN2.cug | awk '{print $1}')" = "$C" ] ||
  fail "getent through systemd-resolved: $(in_resolved getent hosts USER-C.VPN2.cug; cat "$WORK/resolved4/resolved.log")"
[ "$(in_resolved getent hosts user-c.vpn2 | awk '{print $1}')" = "$C" ] || fail "the search domain through systemd-resolved"
[ "$(show 4 'd["dns"]["system"]')" = resolved ] || fail "terminal 4's resolver: $(show 4 'd["dns"]')"
pass "systemd-resolved at terminal 4: per-link DNS and domains on cug0, getent USER-C.VPN2.cug through its stub"

# A connection with a tiny MSS: the kernel would cut its data into more
# segments per super-packet than a batch holds, but for the device's cap.
refused=$(( $(drops 1 too_big) + $(drops 1 not_ip) ))
CUG_TEST_MSS=100 tcp_ok 1 2 "$B" 1000000
[ $(( $(drops 1 too_big) + $(drops 1 not_ip) )) = "$refused" ] ||
  fail "a connection with MSS 100 lost packets: $(show 1 'd["drops"]')"
pass "TCP with an MSS of 100 bytes goes through intact and nothing is dropped"

# Nothing crosses between the groups: no route, and with a route forced into
# cug0 the data plane refuses it and counts it.
pings 1 "$C" 1 && fail "A reached C"
pings 3 "$A" 1 && fail "C reached A"
in_term 1 $NET probe "$C" 5001 && fail "A opened a TCP connection to C"
in_term 1 ip route add fd00:2::/64 dev cug0
before=$(drops 1 no_peer)
pings 1 "$C" 1 && fail "A reached C through a forced route"
in_term 1 $NET probe "$C" 5001 && fail "A opened a TCP connection to C through a forced route"
[ "$(drops 1 no_peer)" -gt "$before" ] || fail "terminal 1 did not count the refused packets"
in_term 1 ip route del fd00:2::/64 dev cug0
pass "nothing crosses between VPN1 and VPN2 (ping and TCP fail; forced packets are dropped and counted)"

# --- the underlay never carries a payload in clear; a replay is dropped -----
ip netns exec "$(term_ns 2)" tcpdump --immediate-mode -Z root -i eth0 -U -w "$WORK/underlay.pcap" udp port 51820 2>"$WORK/tcpdump.log" &
dump=$!
cleanup_pids+=("$dump")
for _ in $(seq 100); do grep -q listening "$WORK/tcpdump.log" && break; sleep 0.05; done
SECRET="CUG-KNOWN-PAYLOAD-7f3a9c "
pings 1 "$B" 2 || fail "ping during the capture"
rm -f "$WORK/served" "$WORK/served.ready"
ip netns exec "$(term_ns 2)" $NET serve "$B" 5001 "$WORK/served" &
srv=$!; cleanup_pids+=("$srv")
for _ in $(seq 100); do [ -e "$WORK/served.ready" ] && break; sleep 0.02; done
in_term 1 $NET send "$B" 5001 100000 "" "$SECRET" >/dev/null || fail "sending the known payload"
wait "$srv" || true
# Until tcpdump has written what crossed (a bound, not a measure).
for _ in $(seq 100); do
  [ "$($NET datagrams "$WORK/underlay.pcap" 51820 | wc -l)" -gt 10 ] && break
  sleep 0.1
done
kill "$dump"; wait "$dump" 2>/dev/null || true
packets=$($NET datagrams "$WORK/underlay.pcap" 51820 | wc -l)
[ "$packets" -gt 10 ] || fail "the capture holds $packets data packets"
grep -c "CUG-KNOWN-PAYLOAD" "$WORK/underlay.pcap" >/dev/null && fail "the known payload crossed the underlay in clear"
echo "ok: $packets single data datagrams captured (and UDP GSO trains), none with the payload in clear"
replayed=$($NET datagrams "$WORK/underlay.pcap" 51820 192.0.2.12 | tail -1)
before=$(drops 2 replay)
in_term 1 $NET udp 192.0.2.12 51820 "$replayed"
for _ in $(seq 40); do [ "$(drops 2 replay)" -gt "$before" ] && break; sleep 0.05; done
[ "$(drops 2 replay)" = $((before + 1)) ] || fail "the replayed packet was not counted as a replay"
# The same packet with a counter far ahead: past the window check, refused
# by the tag (the header is authenticated), and the window does not move.
damaged="${replayed:0:16}00ffffff00000000${replayed:32}"
before=$(drops 2 auth_failed)
in_term 1 $NET udp 192.0.2.12 51820 "$damaged"
for _ in $(seq 40); do [ "$(drops 2 auth_failed)" -gt "$before" ] && break; sleep 0.05; done
[ "$(drops 2 auth_failed)" = $((before + 1)) ] || fail "a forged counter was not counted"
pings 1 "$B" 2 || fail "the forged counter moved B's window"
before=$(drops 2 unknown_index)
in_term 1 $NET udp 192.0.2.12 51820 "0100000000abcdef$(printf '%064d' 0)"
for _ in $(seq 40); do [ "$(drops 2 unknown_index)" -gt "$before" ] && break; sleep 0.05; done
[ "$(drops 2 unknown_index)" = $((before + 1)) ] || fail "an unknown index was not counted"
pass "the underlay shows only ciphertext; a replayed packet, a forged counter and an unknown index are dropped and counted"

# --- drawing 9, then drawing 2: A and C swap terminals ----------------------
card_pull A; card_pull C
expect 0 in_term 1 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t1"
expect 0 in_term 3 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t3"
until_shows 2 'len(d["peers"])' 0
until_shows 4 'len(d["peers"])' 0
[ "$(in_term 1 ip -brief addr show cug0 | grep -c "$A")" = 0 ] || fail "terminal 1 kept A's address after logout"
pings 2 "$A" 1 && fail "B reached A after A logged out"
expect 0 admin session list --json
[ "$(printf '%s' "$OUT" | json_get '" ".join(sorted(r["user"] for r in d))')" = "USER-B USER-D" ] || fail "drawing 9: $OUT"
[ "$(dig_at 2 "$B" USER-A.VPN1.cug A)" = "$A" ] || fail "USER-A.VPN1.cug at terminal 2 with A logged out"
pass "drawing 9: A and C pulled their cards; only B and D are registered; A's name still resolves at B's terminal"
card_insert A 2; card_insert C 0
expect 0 login 3 2 246800 passwd0-A
expect 0 login 1 0 246802 passwd2-C
until_shows 2 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-A', '[fd00:0:2::13]:51820')]"
until_shows 4 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-C', '[fd00:0:2::11]:51820')]"
expect 0 admin session list --json
table=$(printf '%s' "$OUT" | json_get '"; ".join(r["user"] + " " + r["overlay"] + " " + r["terminal"] for r in sorted(d, key=lambda r: r["user"]))')
[ "$table" = "USER-A $A [fd00:0:2::13]:51820; USER-B $B 192.0.2.12:51820; USER-C $C [fd00:0:2::11]:51820; USER-D $D 192.0.2.14:51820" ] ||
  fail "drawing 2's table: $table"
pings 3 "$B" || fail "A (terminal 3) cannot ping B: $(cat "$WORK/ping.out")"
pings 2 "$A" || fail "B cannot ping A at terminal 3: $(cat "$WORK/ping.out")"
pings 1 "$D" || fail "C (terminal 1) cannot ping D: $(cat "$WORK/ping.out")"
pings 4 "$C" || fail "D cannot ping C at terminal 1: $(cat "$WORK/ping.out")"
tcp_ok 3 2 "$B" 1000000
pings 3 "$D" 1 && fail "A reached D after the swap"
[ "$(dig_at 2 "$B" USER-A.VPN1.cug A)" = "$A" ] || fail "USER-A.VPN1.cug at terminal 2 after the swap"
[ "$(dig_at 1 "$C" USER-D.VPN2.cug AAAA)" = "$D" ] || fail "USER-D.VPN2.cug at terminal 1 (C) after the swap"
[ "$(status_at 1 "$C" USER-B.VPN1.cug A)" = NXDOMAIN ] || fail "terminal 1 (now C's) still knows VPN1's names"
pass "drawing 2: A at terminal 3 and C at terminal 1 reach B and D at the same overlay addresses and names"

# --- the administrator moves the zone: every terminal follows ---------------
expect 0 admin server set --dns-zone Corp.Example
contains "$OUT" "DNS zone: corp.example. (was cug.)"
for _ in $(seq 200); do [ "$(dig_at 2 "$B" USER-A.VPN1.corp.example A)" = "$A" ] && break; sleep 0.05; done
[ "$(dig_at 2 "$B" USER-A.VPN1.corp.example A)" = "$A" ] || fail "terminal 2 did not follow the new zone: $(show 2 'd["dns"]')"
[ "$(status_at 2 "$B" USER-A.VPN1.cug A)" = REFUSED ] || fail "the old zone still answers"
expect 65 admin server set --dns-zone 'bad_zone'
contains "$ERR" "invalid DNS zone"
expect 0 admin server set --dns-zone cug
for _ in $(seq 200); do [ "$(dig_at 2 "$B" USER-A.VPN1.cug A)" = "$A" ] && break; sleep 0.05; done
[ "$(dig_at 2 "$B" USER-A.VPN1.cug A)" = "$A" ] || fail "terminal 2 did not follow the zone back"
pass "cug-admin server set --dns-zone: the terminals answer in the new zone, a bad zone is refused (65)"

# --- rotation during a transfer: nothing lost -------------------------------
key=$(show 3 'd["groups"][0]["key_id"]')
lost() { for t in 2 3; do show "$t" 'sum(d["drops"].values())'; done | paste -sd' '; }
lost_before=$(lost)
retrans() { in_term 3 nstat -az TcpRetransSegs | awk '/TcpRetransSegs/ {print $2}'; }
retrans_before=$(retrans)
rm -f "$WORK/served" "$WORK/served.ready"
ip netns exec "$(term_ns 2)" $NET serve "$B" 5001 "$WORK/served" &
srv=$!; cleanup_pids+=("$srv")
for _ in $(seq 100); do [ -e "$WORK/served.ready" ] && break; sleep 0.02; done
ip netns exec "$(term_ns 3)" $NET send "$B" 5001 12000000 4 > "$WORK/sent" &
sender=$!; cleanup_pids+=("$sender")
# The rotation lands in the middle of the transfer: once a megabyte is across.
for _ in $(seq 300); do
  [ "$(show 2 'sum(p["rx_bytes"] for p in d["peers"]) > 1000000')" = True ] && break
  sleep 0.05
done
contains "$(control 'cmd=rotate\ngroup=VPN1')" "errno=0"
wait "$sender" || fail "the transfer during the rotation failed"
wait "$srv" || true
[ "$(cat "$WORK/served")" = "$(cat "$WORK/sent")" ] || fail "the transfer during the rotation arrived damaged"
[ "$(show 3 'd["groups"][0]["key_id"]')" -gt "$key" ] || fail "the rotation did not happen"
[ "$(show 2 'd["groups"][0]["key_id"]')" = "$(show 3 'd["groups"][0]["key_id"]')" ] || fail "A and B on different epochs"
[ "$(lost)" = "$lost_before" ] || fail "packets were dropped during the rotation ($lost_before -> $(lost))"
# (Retransmissions are printed, not asserted: with round trips of a few
# microseconds, tail loss probes count as retransmissions without any loss.)
echo "ok: TCP retransmissions during the transfer: $(( $(retrans) - retrans_before )); drops at B: $(show 2 '{k: v for k, v in d["drops"].items() if v}'), at A: $(show 3 '{k: v for k, v in d["drops"].items() if v}')"
pass "an epoch rotation during a 12 MB transfer drops no packet"

# --- cugd goes away: traffic goes on; it comes back: the channels resume -----
kill -9 "$CUGD_PID"; wait "$CUGD_PID" 2>/dev/null || true
rm -f "$CUGD_SOCKET"
until_shows 3 'd["state"] != "connected" or True' True
pings 3 "$B" 5 || fail "A and B lost each other with cugd gone"
tcp_ok 2 3 "$A" 1000000
cugd_start
for t in 1 2 3 4; do
  for _ in $(seq 100); do [ "$(show "$t" 'd["state"]')" = connected ] && break; sleep 0.1; done
  [ "$(show "$t" 'd["state"]')" = connected ] || fail "terminal $t did not resume"
done
pings 3 "$B" || fail "A and B after cugd came back"
pass "cugd killed: A and B kept talking; cugd back: every channel resumed"

# --- revocation: B removed from VPN1 while A and B exchange traffic ---------
ip netns exec "$(term_ns 3)" ping -i 0.05 -W 1 "$B" >/dev/null 2>&1 &
flood=$!; cleanup_pids+=("$flood")
flood_start=$(show 3 'sum(p["tx_packets"] for p in d["peers"])')
for _ in $(seq 200); do
  [ "$(show 3 'sum(p["tx_packets"] for p in d["peers"])')" -ge $((flood_start + 3)) ] && break
  sleep 0.05
done
# A packet B sent A earlier carries B's receiver index; A at terminal 3 knows
# that index until B is revoked (and drops the old packet for its counter or
# its key), then no longer.
from_b=$($NET datagrams "$WORK/underlay.pcap" 51820 fd00:0:2::11 | tail -1)
known() { show 3 'sum(v for k, v in d["drops"].items() if k != "unknown_index")'; }
before=$(known)
in_term 2 $NET udp fd00:0:2::13 51820 "$from_b"
for _ in $(seq 40); do [ "$(known)" -gt "$before" ] && break; sleep 0.05; done
[ "$(known)" -gt "$before" ] || fail "A did not know B's index before the revocation"
start=$(date +%s%N)
expect 0 admin member del VPN1 USER-B
for _ in $(seq 100); do [ "$(peers_of 3)" = "" ] && break; sleep 0.01; done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(peers_of 3)" = "" ] || fail "A still holds B's keys"
for _ in $(seq 100); do [ "$(status_at 3 "$A" USER-B.VPN1.cug A)" = NXDOMAIN ] && break; sleep 0.01; done
names_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(status_at 3 "$A" USER-B.VPN1.cug A)" = NXDOMAIN ] || fail "USER-B.VPN1.cug still resolves at A's terminal"
echo "ok: USER-B.VPN1.cug NXDOMAIN at A's terminal ${names_ms} ms after the administrator's command"
until_shows 2 'd["state"]' idle
echo "ok: A dropped B's keys ${ms} ms after the administrator's command"
before=$(drops 3 unknown_index)
in_term 2 $NET udp fd00:0:2::13 51820 "$from_b"
for _ in $(seq 40); do [ "$(drops 3 unknown_index)" -gt "$before" ] && break; sleep 0.05; done
[ "$(drops 3 unknown_index)" -gt "$before" ] || fail "B's index still known at A after the revocation"
before=$(drops 3 no_peer)
for _ in $(seq 200); do [ "$(drops 3 no_peer)" -gt "$before" ] && break; sleep 0.05; done
[ "$(drops 3 no_peer)" -gt "$before" ] || fail "A's packets to B were not refused at A"
kill "$flood" 2>/dev/null || true
pings 2 "$A" 1 && fail "B reached A after its revocation"
[ "$(in_term 2 ip -brief addr show cug0 | grep -c "$B")" = 0 ] || fail "B kept its VPN1 address"
pass "revocation: A refuses B at once (${ms} ms) and B can neither send nor read"
# --- a flood of queries and junk at D's resolver: it answers within its rate,
# the tunnel goes on, and its CPU stays bounded -------------------------------
cpu() { awk '{print $14 + $15}' "/proc/${TUN_PID[4]}/stat"; }  # clock ticks
cpu_before=$(cpu); wall_before=$(date +%s%N)
in_term 4 python3 "$CUG_TESTS/support/dns_flood.py" "$D" 200000 > "$WORK/flood.out" &
flooder=$!; cleanup_pids+=("$flooder")
pings 4 "$C" 3 || fail "D cannot ping C during the flood: $(cat "$WORK/ping.out")"
wait "$flooder" || fail "the flood failed"
wall_ms=$(( ($(date +%s%N) - wall_before) / 1000000 ))
cpu_ms=$(( ($(cpu) - cpu_before) * 1000 / $(getconf CLK_TCK) ))
echo "ok: flood $(cat "$WORK/flood.out"): cug-tun used ${cpu_ms} ms of CPU in ${wall_ms} ms"
[ $((cpu_ms * 2)) -lt $((wall_ms + 200)) ] || fail "cug-tun used ${cpu_ms} ms of CPU in ${wall_ms} ms of flood"
[ "$(dig_at 4 "$D" USER-C.VPN2.cug AAAA)" = "$C" ] || fail "D's resolver after the flood"
pings 4 "$C" || fail "D cannot ping C after the flood"
[ "$(show 4 'd["dns"]["queries"]["formerr"] > 0 and d["dns"]["queries"]["refused"] > 0')" = True ] ||
  fail "D's resolver counters: $(show 4 'd["dns"]')"
pass "a flood of 200000 queries and junk: D's resolver answers after it, the tunnel carried pings, CPU bounded"
expect 0 in_term 4 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t4"
for _ in $(seq 200); do in_resolved resolvectl dns cug0 | grep -q "$D" || break; sleep 0.05; done
in_resolved resolvectl dns cug0 | grep -q "$D" && fail "D's logout left cug0's DNS: $(in_resolved resolvectl dns cug0)"
[ -z "$(in_resolved resolvectl domain cug0 | sed 's/^Link [0-9]* (cug0)://; s/ //g')" ] ||
  fail "D's logout left cug0's domains: $(in_resolved resolvectl domain cug0)"
pass "D's logout takes terminal 4's systemd-resolved settings back"
for t in 1 2 3 4; do
  echo "ok: terminal $t's cug-tun peak memory: $(awk '/VmHWM/ {print $2, $3}' "/proc/${TUN_PID[$t]}/status")"
done
