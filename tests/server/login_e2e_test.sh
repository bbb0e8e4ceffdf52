#!/usr/bin/env bash
# Login end to end: cugd in a server namespace, a cug-tun per terminal
# namespace, cug-login with virtual cards through the real pcscd, cug-logout;
# every refusal with its own status; pushes of peers and groups, the observed
# UDP endpoint, presence checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
LOGIN="$CUG_BIN/cug-login"; LOGOUT="$CUG_BIN/cug-logout"
net_up 4
CUGD_NS=$NET_SERVER

new_store
pcsc_start 5
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
expect 0 admin group add VPN2 --prefix 203.0.113.0/24
patent_users
expect 0 admin member add VPN1 USER-A
expect 0 admin member add VPN1 USER-B
expect 0 admin member add VPN2 USER-C
expect 0 admin member add VPN2 USER-D
cugd_start --idle-seconds 5 --presence-seconds 2
SERVER="192.0.2.1:$CUGD_PORT"
SERVER_AT=("" "$SERVER" "$SERVER" "$SERVER" "$SERVER")

tun_start 1; tun_start 2; tun_start 3; tun_start 4

expect 0 login 1 0 246800 passwd0-A
contains "$OUT" "logged in as USER-A at cug0"
contains "$OUT" "VPN1: 198.51.100.1 in 198.51.100.0/24, 0 peers online"
expect 0 login 2 1 246801 passwd1-B --json
[ "$(printf '%s' "$OUT" | json_get 'd["user"], d["groups"][0]["address"], d["peers"]')" = "USER-B 198.51.100.2 1" ] ||
  fail "USER-B's login: $OUT"
expect 0 "$TUN" --socket-dir "$WORK/t2" show --json
[ "$(printf '%s' "$OUT" | json_get 'd["state"], d["user"], [p["user"] for p in d["peers"]]')" = "connected USER-B ['USER-A']" ] ||
  fail "cug-tun show: $OUT"
expect 0 login 3 2 246802 passwd2-C
expect 0 login 4 3 246803 passwd3-D
# Each terminal's endpoint is the UDP source cugd saw on its hello.
for t in 1 2 3 4; do
  until_shows "$t" 'd["endpoint"]' "192.0.2.1$t:51820"
done
expect 0 admin session list --json
table=$(printf '%s' "$OUT" | json_get '"; ".join(r["group"] + " " + r["user"] + " " + r["overlay"] + " " + r["terminal"] for r in d)')
want="VPN1 USER-A 198.51.100.1 192.0.2.11:51820; VPN1 USER-B 198.51.100.2 192.0.2.12:51820"
want="$want; VPN2 USER-C 203.0.113.1 192.0.2.13:51820; VPN2 USER-D 203.0.113.2 192.0.2.14:51820"
[ "$table" = "$want" ] || fail "the registration table (drawing 8): $table, not $want"
pass "the four patent users logged in; the registration table is drawing 8 with observed endpoints"

# Pushes: A learned of B after A's login, with B's endpoint; C and D of each other.
until_shows 1 '[(p["user"], p["endpoint"]) for p in d["peers"]]' "[('USER-B', '192.0.2.12:51820')]"
until_shows 3 '[p["user"] for p in d["peers"]]' "['USER-D']"
until_shows 4 '[p["user"] for p in d["peers"]]' "['USER-C']"
pass "peer-up pushes: each terminal knows the other member of its group and its endpoint"

# Two-phase rotation of VPN1's epoch: both members install, acknowledge, and
# switch; VPN2 is untouched.
key1=$(show 1 'd["groups"][0]["key_id"]'); key3=$(show 3 'd["groups"][0]["key_id"]')
contains "$(control 'cmd=rotate\ngroup=VPN1')" "errno=0"
until_shows 1 'd["groups"][0]["key_id"] > '"$key1" True
until_shows 2 'd["groups"][0]["key_id"] == '"$(show 1 'd["groups"][0]["key_id"]')" True
[ "$(show 3 'd["groups"][0]["key_id"]')" = "$key3" ] || fail "rotating VPN1 touched VPN2"
[ "$(peers_of 1)" = "USER-B@VPN1" ] && [ "$(peers_of 2)" = "USER-A@VPN1" ] || fail "peers after rotation: $(peers_of 1) / $(peers_of 2)"
contains "$(control 'cmd=status')" "errno=0"
contains "$(admin audit --json | json_get '" ".join(e["action"] for e in d)')" "group.rotate"
pass "a group's epoch rotates in two phases; the members keep each other"

# Refusals, each with its own status.
expect 10 login 1 0 246800 wrong-password
contains "$ERR" "wrong password"
expect 13 login 1 0 999999 passwd0-A
contains "$ERR" "wrong PIN (2 tries left)"
expect 0 login 1 0 246800 passwd0-A   # the right PIN resets the count
until_shows 2 'len(d["peers"])' 1    # B was told A's old session ended and got the new one
expect 18 in_term 1 "$LOGIN" --server "$SERVER" --reader "$(reader_name 0)" --socket-dir "$WORK/none" --pin-fd 3 --password-fd 4 3< <(echo 246800) 4< <(echo passwd0-A)
contains "$ERR" "cug-tun is not running"
expect 17 in_term 1 "$LOGIN" --server "192.0.2.1:7444" --reader "$(reader_name 0)" --socket-dir "$WORK/t1" --pin-fd 3 --password-fd 4 3< <(echo 246800) 4< <(echo passwd0-A)
contains "$ERR" "cannot reach cugd"
expect 15 login 1 4 246800 passwd0-A
expect 0 admin user disable USER-C
until_shows 3 'd["state"]' idle       # C's live session was revoked at once
until_shows 4 'len(d["peers"])' 0     # and D forgot C's keys
expect 12 login 3 2 246802 passwd2-C
contains "$ERR" "disabled"
expect 0 admin user enable USER-C
expect 0 login 3 2 246802 passwd2-C
until_shows 4 '[p["user"] for p in d["peers"]]' "['USER-C']"
pass "wrong password 10, wrong PIN 13, cug-tun not running 18, unreachable 17, no card 15, disabled 12"

# A card from another deployment pins another server key.
other="$WORK/other"
expect 0 "$ADMIN_BIN" --store "$other" init --server-name other --password-cost "$CHEAP"
expect 0 with_password "passwd-X" "$ADMIN_BIN" --store "$other" user add USER-X --password-fd 3
card_init X
card_insert X 4
expect 0 "$ADMIN_BIN" --store "$other" card enroll USER-X --reader "$(reader_name 4)" --new-pin-fd 3 3< <(echo 135792)
expect 16 login 3 4 135792 passwd-X
contains "$ERR" "possible interception"
pass "a card of another deployment: server key mismatch 16"

# Logout now, and on card removal.
expect 0 "$LOGOUT" --socket-dir "$WORK/t3"
contains "$OUT" "logged out"
until_shows 4 'len(d["peers"])' 0     # peer-down: D forgot C
"$LOGOUT" --socket-dir "$WORK/t2" --wait > "$WORK/wait-out" 2>&1 &
waiter=$!
cleanup_pids+=("$waiter")
# Until cug-logout watches the reader: its only socket left is pcscd's (it
# asked cug-tun for the reader first). Pulled earlier, it logs out as well.
for _ in $(seq 200); do
  find "/proc/$waiter/fd" -lname 'socket:*' 2>/dev/null | grep -q . && break
  sleep 0.02
done
pulled=$(date +%s%N)
card_pull B
wait "$waiter" || fail "cug-logout --wait: $(cat "$WORK/wait-out")"
ms=$(( ($(date +%s%N) - pulled) / 1000000 ))
expect 0 admin session list --json
[ "$(printf '%s' "$OUT" | json_get 'sorted(set(r["user"] for r in d))')" = "['USER-A', 'USER-D']" ] ||
  fail "after two logouts: $OUT"
until_shows 1 'len(d["peers"])' 0
echo "ok: card pulled: logged out and the registration cleared after $ms ms"
pass "cug-logout, and cug-logout --wait on card removal; the peers were told"

# A card pulled with no cug-logout running: the next presence check ends the
# session (cugd runs them every 2 s here; every 10 minutes by default).
card_pull D
until_shows 4 'd["state"]' idle
[ "$(admin session list --json | json_get 'sorted(set(r["user"] for r in d))')" = "['USER-A']" ] ||
  fail "USER-D's session survived the card's removal"
contains "$(admin audit --json | json_get '" ".join(e["action"] for e in d)')" "session.absent"
# Its detail says why once: the agent's report is quoted by cugd, not twice.
absent=$(admin audit --json | json_get '[e["detail"] for e in d if e["action"] == "session.absent"][-1]')
echo "ok: session.absent: $absent"
case $absent in *'\"'*|*'""'*) fail "session.absent's detail is quoted twice: $absent" ;; esac
pass "a card gone without cug-logout: the session ends at the next presence check"

# Memberships change under a live session: A joins VPN2, then leaves it.
expect 0 login 3 2 246802 passwd2-C
requests() { control 'cmd=status' | sed -n 's/^reconcile_requests=//p'; }
before=$(requests)
expect 0 admin member add VPN2 USER-A
[ "$(requests)" = $((before + 1)) ] || fail "cug-admin did not tell cugd of its change"
until_shows 1 '" ".join(g["name"] for g in d["groups"])' "VPN1 VPN2"
until_shows 1 '[p["user"] + "@" + p["group"] for p in d["peers"]]' "['USER-C@VPN2']"
until_shows 3 '[p["user"] + "@" + p["group"] for p in d["peers"]]' "['USER-A@VPN2']"
expect 0 admin member del VPN2 USER-A
until_shows 1 '" ".join(g["name"] for g in d["groups"])' "VPN1"
until_shows 3 'len(d["peers"])' 0
until_shows 1 'd["state"]' connected
pass "a member added gets the group live; a member removed loses it and its peers lose its keys"

# cugd killed and restarted: the registration stays and the agent resumes.
kill -9 "$CUGD_PID"; wait "$CUGD_PID" 2>/dev/null || true
rm -f "$CUGD_SOCKET"
cugd_start --idle-seconds 5 --presence-seconds 2
for _ in $(seq 200); do
  state=$("$TUN" --socket-dir "$WORK/t1" show --json | json_get 'd["state"]')
  [ "$state" = connected ] && [ -S "$CUGD_SOCKET" ] &&
    [ "$(control 'cmd=sessions' | grep -c 'connected=true')" = 2 ] && break
  sleep 0.1
done
contains "$(control 'cmd=sessions')" "session.0.user=USER-A"
contains "$(control 'cmd=sessions')" "session.0.connected=true"
contains "$(control 'cmd=sessions')" "session.1.user=USER-C"
contains "$(control 'cmd=sessions')" "session.1.connected=true"
# The same answer in JSON: a list of objects with the same keys.
got=$(control 'cmd=sessions\nformat=json' | json_get '[(s["user"], s["connected"], s["acknowledged"], s["terminal"].startswith("192.0.2.1"), type(s["since"]).__name__) for s in d["sessions"]], d["errno"]')
[ "$got" = "[('USER-A', True, True, True, 'int'), ('USER-C', True, True, True, 'int')] 0" ] ||
  fail "cmd=sessions format=json: $got"
pass "kill -9 of cugd loses no registration; the terminals resumed"

# B's card after B was enrolled on a new card: the old one is another card
# than the one cugd knows for B, and is refused with its own status.
card_pull X
card_init B2
card_insert B2 4
expect 0 admin card enroll USER-B --reader "$(reader_name 4)" --new-pin-fd 3 3< <(echo 112233)
card_insert B 1
expect 19 login 2 1 246801 passwd1-B
contains "$ERR" "not one it enrolled"
expect 0 login 2 4 112233 passwd1-B
pass "a card that is not the user's enrolled one: refused 19; the new card logs in"

# An administrator's change ends the session at once; its terminal learns it.
expect 0 admin member del VPN1 USER-A
for _ in $(seq 50); do
  [ "$(admin session list --json | json_get 'len([r for r in d if r["user"] == "USER-A"])')" = 0 ] && break
  sleep 0.1
done
[ "$(admin session list --json | json_get 'len([r for r in d if r["user"] == "USER-A"])')" = 0 ] || fail "the removed member's session survived"
for _ in $(seq 50); do
  [ "$("$TUN" --socket-dir "$WORK/t1" show --json | json_get 'd["state"]')" = idle ] && break
  sleep 0.1
done
[ "$("$TUN" --socket-dir "$WORK/t1" show --json | json_get 'd["state"]')" = idle ] || fail "the agent kept a revoked session"
expect 0 admin audit --json
actions=$(printf '%s' "$OUT" | json_get '" ".join(sorted(set(e["action"] for e in d)))')
for a in session.login session.logout session.revoked session.absent session.groups login.refused; do contains "$actions" "$a"; done
pass "a removed member's session is revoked and its terminal told; everything is audited"

# cug-logout --watch (what cug-logout@.service runs): every session the
# terminal gets ends when its card leaves the reader, and it waits for the
# next one; cugd's audit log names the reason. cugd restarts without the
# 2-second presence checks first: one falling between a card's removal and
# cug-logout's logout would end the session itself (as absent), and on a
# busy machine that window is long.
kill -9 "$CUGD_PID"; wait "$CUGD_PID" 2>/dev/null || true
rm -f "$CUGD_SOCKET"
cugd_start --idle-seconds 5 --presence-seconds 3600
until_shows 3 'd["state"]' connected
removed() { admin audit --json | json_get 'len([e for e in d if e["action"] == "session.logout" and "card removed" in e["detail"]])'; }
before=$(removed)
"$LOGOUT" --socket-dir "$WORK/t3" --watch --verbose > "$WORK/watch-out" 2>&1 &
watcher=$!
cleanup_pids+=("$watcher")
# watching N: until it has begun watching a session's reader N times (its
# debug event), so that the card leaves while it watches, not before (when
# the presence check would end the session first).
watching() {
  for _ in $(seq 600); do
    [ "$(grep -c 'event=watching' "$WORK/watch-out")" -ge "$1" ] && return 0
    kill -0 "$watcher" 2>/dev/null || break
    pause_us 50000
  done
  fail "cug-logout --watch is not watching: $(cat "$WORK/watch-out")"
}
watching 1
card_pull C
until_shows 3 'd["state"]' idle
card_insert C 2
expect 0 login 3 2 246802 passwd2-C
watching 2
card_pull C
until_shows 3 'd["state"]' idle
kill -0 "$watcher" 2>/dev/null || fail "cug-logout --watch stopped: $(cat "$WORK/watch-out")"
# cugd writes the audit entry when the logout reaches it: wait for it (30 s at most).
for _ in $(seq 300); do [ "$(removed)" = $((before + 2)) ] && break; pause_us 100000; done
[ "$(removed)" = $((before + 2)) ] || fail "cug-logout --watch logged out $(( $(removed) - before )) times, not 2: $(cat "$WORK/watch-out")"
pass "cug-logout --watch ends each session when its card leaves, and keeps watching"
