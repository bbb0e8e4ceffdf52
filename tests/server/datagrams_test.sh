#!/usr/bin/env bash
# What arrives on a terminal's UDP port: every datagram that is not a data
# packet of a pair is dropped and counted under exactly one reason (empty ones
# and ones of the hello reply's shape included), and the MTU is the sender's
# setting: a terminal at --mtu 9000 and one at 1420 exchange pings of 1400,
# 3000 and 8000 bytes both ways.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
NET="python3 $CUG_TESTS/support/net.py"

net_up 2
CUGD_NS=$NET_SERVER
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443")
new_store
pcsc_start 2
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
patent_users --in VPN1 A B
cugd_start
tun_start 1 --mtu 9000
tun_start 2
expect 0 login 1 0 246800 passwd0-A
expect 0 login 2 1 246801 passwd1-B
until_shows 1 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-B', '192.0.2.12:51820')]"
until_shows 2 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-A', '192.0.2.11:51820')]"
A=$(show 1 'd["groups"][0]["address"]')
B=$(show 2 'd["groups"][0]["address"]')

# --- junk: counted, each under its one reason ----------------------------------
reasons='malformed not_data unknown_index'
count_of() { show 1 "d[\"drops\"][\"$1\"]"; }
total_drops() { show 1 'sum(d["drops"].values())'; }
declare -A want=()
for r in $reasons; do want[$r]=$(count_of "$r"); done
start_total=$(total_drops)
sent=0
# In rounds of 50, each waited for, so that no datagram is lost in a full
# socket buffer before cug-tun reads it (that would be the kernel's drop).
for round in $(seq 10); do
  expected=$(in_server $NET junk 192.0.2.11 51820 50 "$round$$")
  sent=$((sent + 50))
  for kv in $expected; do want[${kv%%=*}]=$(( want[${kv%%=*}] + ${kv#*=} )); done
  until_shows 1 'sum(d["drops"].values())' "$((start_total + sent))"
done
for r in $reasons; do
  [ "$(count_of "$r")" = "${want[$r]}" ] || fail "drop.$r is $(count_of "$r"), not ${want[$r]} ($(show 1 'd["drops"]'))"
done
pass "500 junk datagrams (empty, other types, short, unknown index, forged hello replies): each counted once ($(show 1 'd["drops"]'))"
# The session still works: the agent's hello replies were not crowded out.
in_term 2 ping -c 1 -W 5 "$A" > /dev/null || fail "B cannot reach A after the junk"

# --- the MTU is the sender's: 9000 and 1420 talk with any size ------------------
[ "$(show 1 'd["mtu"]') $(show 2 'd["mtu"]')" = "9000 1420" ] || fail "MTUs: $(show 1 'd["mtu"]') $(show 2 'd["mtu"]')"
for size in 1400 3000 8000; do
  in_term 1 ping -c 2 -W 5 -s "$size" "$B" > "$WORK/ping" 2>&1 ||
    fail "A (mtu 9000) cannot ping B (mtu 1420) with $size bytes: $(tail -n 2 "$WORK/ping"); B's drops $(show 2 'd["drops"]')"
  in_term 2 ping -c 2 -W 5 -s "$size" "$A" > "$WORK/ping" 2>&1 ||
    fail "B (mtu 1420) cannot ping A (mtu 9000) with $size bytes: $(tail -n 2 "$WORK/ping"); A's drops $(show 1 'd["drops"]')"
done
[ "$(show 2 'd["drops"]["too_big"]')" = 0 ] || fail "B dropped as too big: $(show 2 'd["drops"]')"
pass "a terminal at mtu 9000 and one at 1420: pings of 1400, 3000 and 8000 bytes both ways"
