#!/usr/bin/env bash
# Prometheus metrics of cugd and cug-tun, scraped over HTTP from the real
# daemons in their namespaces and parsed by Prometheus' own Python client:
# logins by result, sessions, channels, pushes, rotations, refusals and the
# latency histograms on the server; traffic per group and per peer, the last
# packets' ages and the drops on the terminals. No user ID is ever a label.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT

python3 -c 'import prometheus_client' 2>/dev/null ||
  fail "python3-prometheus-client is not installed (scripts/install-deps)"
net_up 2
CUGD_NS=$NET_SERVER
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443")
new_store
pcsc_start 2
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
expect 0 admin group add VPN2 --prefix 203.0.113.0/24
patent_users --in VPN1 A B
expect 0 admin member add VPN2 USER-A
expect 0 admin member add VPN2 USER-B
# Each daemon in its own namespace, so fixed ports collide with nobody.
cugd_start --metrics 9105
tun_start 1 --metrics 9106
tun_start 2 --metrics 9106
scrape_py="$CUG_TESTS/support/scrape.py"
srv() { in_server python3 "$scrape_py" 9105 "$1"; }
term() { local t=$1; shift; in_term "$t" python3 "$scrape_py" 9106 "$1"; }
# until_metric WHERE... EXPR WANT: waits until the scrape gives WANT (a bound
# of 30 s for a busy machine, not a measure).
until_srv() {
  local got=""
  for _ in $(seq 600); do
    got=$(srv "$1") && [ "$got" = "$2" ] && return 0
    pause_us 50000
  done
  fail "cugd: $1 is '$got', not '$2'"
}
until_term() {
  local got=""
  for _ in $(seq 600); do
    got=$(term "$1" "$2") && [ "$got" = "$3" ] && return 0
    pause_us 50000
  done
  fail "terminal $1: $2 is '$got', not '$3'"
}

# --- off unless configured, loopback unless told ---------------------------------
[ "$(srv 'm("cug_logins_total", result="ok"), m("cug_sessions"), m("cug_start_time_seconds") > 0')" = "(0, 0, True)" ] ||
  fail "a fresh cugd's metrics: $(srv 'm("cug_logins_total", result="ok"), m("cug_sessions")')"
in_server ss -Htln | grep -q '127.0.0.1:9105 ' || fail "cugd's metrics are not on loopback: $(in_server ss -Htln)"
in_server ss -Htln | grep -qv ':9105 \|:7443 ' && fail "cugd listens on more than it was told: $(in_server ss -Htln)"
status=$(in_server python3 -c '
import urllib.request, urllib.error
for method, path in (("POST", "/metrics"), ("GET", "/"), ("GET", "/metrics?x")):
    try:
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:9105" + path, method=method, data=b"" if method == "POST" else None), timeout=30)
        print(method, path, 200)
    except urllib.error.HTTPError as e:
        print(method, path, e.code)')
[ "$status" = "$(printf 'POST /metrics 405\nGET / 404\nGET /metrics?x 200')" ] ||
  fail "other methods and paths: $status"
# A port in use is "unavailable" (69), as --listen's is, with nothing left behind.
expect 69 in_server "$CUGD_BIN" --store "$STORE" --listen 127.0.0.1:7444 \
  --control-socket "$WORK/second.sock" --metrics 9105
contains "$ERR" "cugd: metrics on 127.0.0.1:9105: Address already in use"
[ ! -e "$WORK/second.sock" ] || fail "a cugd that could not start left its control socket"
pass "cugd serves /metrics on loopback only, 405 for POST, 404 elsewhere; 69 for a port in use"

# --- logins by result, sessions, channels, the histograms ------------------------
expect 10 login 1 0 246800 wrong-password
until_srv 'm("cug_logins_total", result="password")' 1
expect 0 login 1 0 246800 passwd0-A
until_srv 'm("cug_sessions"), m("cug_sessions_connected"), m("cug_logins_total", result="ok")' "(1, 1, 1)"
expect 0 login 2 1 246801 passwd1-B
until_srv 'm("cug_sessions"), m("cug_sessions_connected"), m("cug_channels")' "(2, 2, 2)"
until_shows 1 'len(d["peers"])' 2   # B, in both groups: the peer-ups came
got=$(srv '(m("cug_password_verify_seconds_count"), m("cug_password_verify_seconds_sum") > 0,
           m("cug_tls_handshakes_total", result="ok") >= 5, m("cug_tls_handshake_seconds_count") >= 5,
           m("cug_channels_opened_total") >= 5, m("cug_resumes_total", result="ok") >= 2,
           m("cug_pushes_total", type="sync") >= 2, m("cug_pushes_total", type="peer_up") >= 1)')
[ "$got" = "(3, True, True, True, True, True, True, True)" ] ||
  fail "after three password checks, two logins and their resumes: $got"
pass "cugd counts logins by result (1 password, 2 ok), sessions, channels, handshakes, syncs and peer-ups"

# --- rotations and session ends -------------------------------------------------
# (cugd's own first rotation, a minute after it started, may come too.)
rotations=$(srv 'm("cug_key_rotations_total")')
activates=$(srv 'm("cug_pushes_total", type="activate")')
control 'cmd=rotate' > /dev/null
until_srv 'm("cug_key_rotations_total") >= '"$rotations"' + 2, m("cug_key_rotations_pending")' "(True, 0)"
until_srv 'm("cug_pushes_total", type="activate") >= '"$activates"' + 4' True
expect 0 in_term 2 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t2"
until_srv 'm("cug_sessions"), m("cug_sessions_ended_total", reason="logout")' "(1, 1)"
pass "cugd counts the rotation of both groups (activated on both terminals) and B's logout"

# --- the terminal: traffic per group and per peer, ages, drops ------------------
expect 0 login 2 1 246801 passwd1-B
until_shows 1 '[p["user"] for p in d["peers"]]' "['USER-B', 'USER-B']"
B1=$(show 2 '[g["address"] for g in d["groups"] if g["name"] == "VPN1"][0]')
B2=$(show 2 '[g["address"] for g in d["groups"] if g["name"] == "VPN2"][0]')
in_term 1 ping -c 3 -i 0.2 -W 5 "$B1" > /dev/null || fail "A cannot reach B in VPN1"
in_term 1 ping -c 1 -W 5 "$B2" > /dev/null || fail "A cannot reach B in VPN2"
got=$(term 1 '(m("cug_group_transmit_packets_total", interface="cug0", group="VPN1"),
              m("cug_group_receive_packets_total", interface="cug0", group="VPN1"),
              m("cug_group_transmit_packets_total", interface="cug0", group="VPN2"),
              m("cug_peer_transmit_packets_total", interface="cug0", group="VPN1", peer="'"$B1"'"),
              m("cug_peer_last_receive_age_seconds", interface="cug0", group="VPN1", peer="'"$B1"'") is not None,
              m("cug_peers", interface="cug0"))')
[ "$got" = "(3, 3, 1, 3, True, 2)" ] || fail "A after 3 pings to B in VPN1 and 1 in VPN2: $got"
got=$(term 1 'm("cug_group_transmit_bytes_total", interface="cug0", group="VPN1") >= 3 * 84')
[ "$got" = True ] || fail "A's bytes to VPN1: $(term 1 'm("cug_group_transmit_bytes_total", interface="cug0", group="VPN1")')"
pass "cug-tun counts packets and bytes per group and per peer, and the last packet's age"

# A group's totals never go back: B's new session starts its pair's counters
# again, the group's go on.
expect 0 in_term 2 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t2"
until_shows 1 'len(d["peers"])' 0
expect 0 login 2 1 246801 passwd1-B
until_shows 1 'len(d["peers"])' 2
in_term 1 ping -c 1 -W 5 "$(show 2 '[g["address"] for g in d["groups"] if g["name"] == "VPN1"][0]')" > /dev/null ||
  fail "A cannot reach B in VPN1 after B's new login"
got=$(term 1 '(m("cug_group_transmit_packets_total", interface="cug0", group="VPN1"),
              m("cug_peer_transmit_packets_total", interface="cug0", group="VPN1", peer="'"$B1"'"))')
[ "$got" = "(4, 1)" ] || fail "after B's new session and one more ping, A's VPN1 total and pair: $got"
pass "a group's totals go on across a peer's new session; the pair's start again"

# Drops: a packet to an address of the group nobody has is counted no_peer.
before=$(term 1 'm("cug_dropped_packets_total", interface="cug0", reason="no_peer")')
in_term 1 ping -c 2 -i 0.2 -W 1 198.51.100.200 > /dev/null 2>&1 || true
until_term 1 'm("cug_dropped_packets_total", interface="cug0", reason="no_peer")' $((before + 2))
[ "$(term 1 'len([k for k in samples if k[0] == "cug_dropped_packets_total"])')" = 16 ] ||
  fail "not every drop reason is a sample"
pass "cug-tun counts every drop under its reason (16 reasons)"

# --- no user IDs -------------------------------------------------------------------
for where in srv "term 1" "term 2"; do
  leaked=$($where '[l for k in samples for l in k[1] if "USER-" in l[1]]')
  [ "$leaked" = "[]" ] || fail "$where: user IDs in labels: $leaked"
done
pass "no label of either daemon holds a user ID"
