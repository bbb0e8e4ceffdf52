#!/usr/bin/env bash
# A peer whose terminal lost its channel to cugd is away: cugd tells the
# group at once, the peers drop what they would send it and count it
# (drop.peer_away) instead of sending into the void, and when the session
# resumes they are told it is back. The same when cug-tun is killed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT

net_up 3
CUGD_NS=$NET_SERVER
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443" "192.0.2.1:7443")
new_store
pcsc_start 3
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
patent_users --in VPN1 A B C
cugd_start
tun_start 1; tun_start 2
expect 0 login 1 0 246800 passwd0-A
expect 0 login 2 1 246801 passwd1-B
until_shows 1 '[(p["user"], p.get("endpoint"), p["away"]) for p in d["peers"]]' "[('USER-B', '192.0.2.12:51820', False)]"
B=$(show 2 'd["groups"][0]["address"]')
in_term 1 ping -c 1 -W 5 "$B" > /dev/null || fail "A cannot reach B"
tx_to_b() { show 1 'd["peers"][0]["tx_packets"]'; }

# --- B's channel is cut and B cannot reach cugd: B is away ----------------------
# A blackhole route to cugd's address in B's namespace (data to A still flows
# there), then cugd's end of B's connection aborted.
in_term 2 ip route add blackhole 192.0.2.1/32
in_server ss -K dst 192.0.2.12 sport = :7443 > /dev/null 2>&1
until_shows 1 '[p["away"] for p in d["peers"]]' "[True]"
until_shows 2 'd["state"]' reconnecting
away_before=$(show 1 'd["drops"]["peer_away"]'); tx_before=$(tx_to_b)
if in_term 1 ping -c 3 -i 0.2 -W 1 "$B" > /dev/null 2>&1; then fail "A reached B while B was away"; fi
[ "$(show 1 'd["drops"]["peer_away"]')" -ge $((away_before + 3)) ] ||
  fail "A's drop.peer_away went from $away_before to $(show 1 'd["drops"]["peer_away"]') for 3 pings"
[ "$(tx_to_b)" = "$tx_before" ] || fail "A sent $(( $(tx_to_b) - tx_before )) packets to B while it was away"
pass "B's channel lost: A shows B away, drops and counts what it would send ($(show 1 'd["drops"]["peer_away"]'))"

# A terminal that logs in meanwhile learns that B is away with its picture.
tun_start 3
expect 0 login 3 2 246802 passwd2-C
until_shows 3 '[(p["user"], p["away"]) for p in d["peers"]]' "[('USER-A', False), ('USER-B', True)]"
pass "C, logging in while B is away, gets B as away"

# --- B reaches cugd again and resumes: back -------------------------------------
in_term 2 ip route del blackhole 192.0.2.1/32
until_shows 2 'd["state"]' connected
until_shows 1 'sorted((p["user"], p["away"]) for p in d["peers"])' "[('USER-B', False), ('USER-C', False)]"
until_shows 3 'sorted((p["user"], p["away"]) for p in d["peers"])' "[('USER-A', False), ('USER-B', False)]"
in_term 1 ping -c 1 -W 5 "$B" > /dev/null || fail "A cannot reach B after B resumed"
pass "B resumed: A and C show it back, and A reaches it"

# --- B's cug-tun is killed: away until the session expires ----------------------
kill -9 "${TUN_PID[2]}"; wait "${TUN_PID[2]}" 2>/dev/null || true; TUN_PID[2]=""
until_shows 1 'sorted((p["user"], p["away"]) for p in d["peers"])' "[('USER-B', True), ('USER-C', False)]"
away_before=$(show 1 'd["drops"]["peer_away"]')
if in_term 1 ping -c 2 -i 0.2 -W 1 "$B" > /dev/null 2>&1; then fail "A reached B after B's cug-tun died"; fi
[ "$(show 1 'd["drops"]["peer_away"]')" -ge $((away_before + 2)) ] || fail "A did not count its pings to an away B"
pass "B's cug-tun killed: A shows B away at once and counts what it would send"
