#!/usr/bin/env bash
# The patent's scenario from the installed packages (run by package_test.sh
# inside its private mount namespace, where /usr and /etc are the installed
# root's and /run and /var/lib take writes into the test's directories).
# Every daemon is started from its unit's own ExecStart line, as the unit's
# User= and with the unit's capability bounding set, and reads the installed
# configuration files: cugd.service in the server's network namespace,
# cug-tun@cugN.service in terminal N's (/etc/cug/cugN.conf), and
# cug-logout@cug2.service at terminal 2. Each cug-tun has a mount namespace
# of its own (as PrivateMounts= gives it) with its own /etc/resolv.conf and
# /run/resolvconf, where it points the real resolvconf (openresolv, in /usr
# here) at its names. The installed cug-admin enrolls the
# four users on virtual cards in a private pcscd (test tools from the build:
# the virtual card is never installed); the installed cug-login logs them in.
#
#   scenario.sh UNIT_DIR TESTS_DIR
set -euo pipefail
units=$1 tests=$2
: "${CUG_BUILD_DIR:?}"
export CUG_VCARD="$CUG_BUILD_DIR/tests/cug-vcard" CUG_CARD_WAIT="$CUG_BUILD_DIR/tests/cug-card-wait"
# tests/admin/lib.sh: fail, expect, pause_us, json_get, cleanup by PID. Its
# CUG_BIN is not used: every program here is the installed one.
CUG_BIN=/nonexistent
. "$tests/admin/lib.sh"
unset CUG_CUGD_SOCKET  # the installed default, /run/cugd/cugd.sock
. "$tests/support/netns.sh"
. "$tests/support/pcsc.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
admin() { cug-admin "$@"; }

# ExecStart of UNIT, with %i as INSTANCE, as words.
exec_start() { sed -n 's/^ExecStart=//p' "$units/$1" | sed "s/%i/${2:-}/g"; }
unit_value() { sed -n "s/^$2=//p" "$units/$1"; }
# The bounding set of UNIT for setpriv: -all, then each capability it keeps.
bounding() {
  local caps c out="-all"
  caps=$(unit_value "$1" CapabilityBoundingSet)
  for c in $caps; do c=${c#CAP_}; out="$out,+${c,,}"; done
  echo "$out"
}
# start_unit UNIT INSTANCE NETNS USER [WRAPPER...]: as systemd would
# (Type=notify: ready once it says READY=1), under WRAPPER if given; its PID
# in $STARTED.
start_unit() {
  local unit=$1 instance=$2 netns=$3 user=$4 name=${1%.service}
  shift 4
  name=${name/@/@$instance}  # cugd, cug-tun@cug1: its log is $WORK/$name.log
  local -a argv
  read -r -a argv <<< "$(exec_start "$unit" "$instance")"
  local -a as=()
  [ "$user" = root ] || as=(--reuid="$user" --regid="$user" --clear-groups)
  ip netns exec "$netns" python3 "$tests/support/notify_start.py" "$WORK/notify-$name" \
    "$WORK/$name.log" "$@" setpriv "${as[@]}" --no-new-privs --bounding-set="$(bounding "$unit")" -- \
    "${argv[@]}" > "$WORK/$name.notified" 2>&1 ||
    fail "$unit ($instance): $(cat "$WORK/$name.notified" "$WORK/$name.log")"
  STARTED=$(sed -n 's/^pid //p' "$WORK/$name.notified")
  cleanup_pids+=("$STARTED")
}

net_up 4
pcsc_start 4
# cug-admin acts as the store's owner (_cug), and so reaches pcscd as _cug.
chmod 0711 "$PCSC_WORK" "$PCSC_WORK/run"
chmod 0711 "$WORK"
expect 0 admin group add VPN2 --prefix 203.0.113.0/24   # VPN1 is there from the first run
for u in A B C D; do
  n=$(( $(printf '%d' "'$u") - 65 ))
  expect 0 with_password "passwd$n-$u" admin user add "USER-$u" --password-fd 3
  card_init "$u"
  card_insert "$u" "$n"
  expect 0 admin card enroll "USER-$u" --reader "$(reader_name "$n")" --new-pin-fd 3 3< <(echo "24680$n")
done
expect 0 admin member add VPN1 USER-A; expect 0 admin member add VPN1 USER-B
expect 0 admin member add VPN2 USER-C; expect 0 admin member add VPN2 USER-D
A=198.51.100.1 B=198.51.100.2 C=203.0.113.1 D=203.0.113.2

install -d -m 0750 -o _cug -g _cug /run/cugd                 # RuntimeDirectory=cugd
start_unit cugd.service "" "$NET_SERVER" "$(unit_value cugd.service User)"
cugd=$STARTED
[ "$(stat -c %U "/proc/$cugd")" = _cug ] || fail "cugd runs as $(stat -c %U "/proc/$cugd")"
install -d -m 0750 /run/cug                                   # RuntimeDirectory=cug
mkdir -p /run/resolvconf  # in this test's /run: each cug-tun mounts its own over it
for t in 1 2 3 4; do
  # Terminal T's mount namespace: its resolv.conf and resolvconf's state,
  # with the network's resolver registered as ifupdown would (at the
  # server's address, where nothing answers port 53: a name cug-tun refuses
  # fails there at once).
  : > "$WORK/resolv-cug$t.conf"
  start_unit cug-tun@.service "cug$t" "$(term_ns "$t")" root unshare --mount --propagation private \
    sh -c 'mount -t tmpfs tmpfs /run/resolvconf && mount --bind "$0" /etc/resolv.conf &&
      echo "nameserver 192.0.2.1" | resolvconf -a eth0.inet && exec "$@"' "$WORK/resolv-cug$t.conf"
  TUN[$t]=$STARTED
  [ -S "/run/cug/cug$t.sock" ] || fail "cug-tun@cug$t said READY=1 before its socket"
done
grep -q '^CapBnd:\s*0000000000001\(4c0\|400\)$' "/proc/${TUN[1]}/status" ||
  fail "cug-tun@cug1's bounding set: $(grep CapBnd "/proc/${TUN[1]}/status")"
pass "cugd.service and cug-tun@cug1..4.service run from their ExecStart lines and /etc/cug"

login() {  # login T READER PIN PASSWORD
  in_term "$1" cug-login --server 192.0.2.1:7443 --reader "$(reader_name "$2")" --interface "cug$1" \
    --pin-fd 3 --password-fd 4 3< <(echo "$3") 4< <(echo "$4")
}
show() { cug-tun --interface "cug$1" show --json | json_get "$2"; }
until_shows() {
  local got=""
  for _ in $(seq 600); do
    got=$(show "$1" "$2") && [ "$got" = "$3" ] && return 0
    pause_us 50000
  done
  fail "terminal $1: $2 is '$got', not '$3'"
}
pings() { in_term "$1" ping -c "${3:-3}" -i 0.2 -W 1 "$2" > "$WORK/ping.out" 2>&1; }

# --- drawing 8: A at terminal 1, B at 2, C at 3, D at 4 ---------------------
expect 0 login 1 0 246800 passwd0-A
expect 0 login 2 1 246801 passwd1-B
expect 0 login 3 2 246802 passwd2-C
expect 0 login 4 3 246803 passwd3-D
until_shows 1 '[p["user"] for p in d["peers"]]' "['USER-B']"
until_shows 3 '[p["user"] for p in d["peers"]]' "['USER-D']"
pings 1 "$B" || fail "A cannot ping B: $(cat "$WORK/ping.out")"
pings 4 "$C" || fail "D cannot ping C: $(cat "$WORK/ping.out")"
pings 1 "$C" 1 && fail "A reached C across the groups"
pass "drawing 8: A and B reach each other in VPN1, C and D in VPN2, and nothing crosses"

# --- names through the system's resolver, as resolvconf set it ----------------
# in_tun T CMD...: CMD in terminal T's cug-tun's network and mount namespaces.
in_tun() { local t=$1; shift; nsenter -t "${TUN[$t]}" -m -n "$@"; }
for _ in $(seq 600); do grep -q "nameserver $B" "$WORK/resolv-cug2.conf" && break; pause_us 50000; done
grep -q "nameserver $B" "$WORK/resolv-cug2.conf" || fail "resolvconf did not name B's resolver: $(cat "$WORK/resolv-cug2.conf" "$WORK/cug-tun@cug2.log")"
[ "$(grep -m1 '^nameserver' "$WORK/resolv-cug2.conf")" = "nameserver $B" ] ||
  fail "B's resolver does not come first: $(cat "$WORK/resolv-cug2.conf")"
grep -q '^search cug$' "$WORK/resolv-cug2.conf" || fail "no search domain: $(cat "$WORK/resolv-cug2.conf")"
grep -q '^nameserver 192.0.2.1$' "$WORK/resolv-cug2.conf" || fail "the network's resolver went: $(cat "$WORK/resolv-cug2.conf")"
grep -q 'event=dns_set method=resolvconf' "$WORK/cug-tun@cug2.log" || fail "cug-tun@cug2's log: $(cat "$WORK/cug-tun@cug2.log")"
[ "$(in_tun 2 getent hosts USER-A.VPN1.cug | awk '{print $1}')" = "$A" ] ||
  fail "getent at terminal 2: $(in_tun 2 getent hosts USER-A.VPN1.cug)"
[ "$(in_tun 4 getent hosts USER-C.VPN2 | awk '{print $1}')" = "$C" ] || fail "USER-C.VPN2 at terminal 4"
in_tun 1 ping -c 1 -W 2 USER-B.VPN1.cug > "$WORK/ping.out" 2>&1 || fail "ping USER-B.VPN1.cug: $(cat "$WORK/ping.out")"
pass "resolvconf points each terminal at its cug-tun: getent and ping by name"

# --- drawings 9 and 2: A and C pull their cards and swap terminals ----------
card_pull A; card_pull C
expect 0 in_term 1 cug-logout --interface cug1
expect 0 in_term 3 cug-logout --interface cug3
until_shows 2 'len(d["peers"])' 0
card_insert A 2; card_insert C 0
expect 0 login 3 2 246800 passwd0-A
expect 0 login 1 0 246802 passwd2-C
until_shows 2 '[p["user"] for p in d["peers"]]' "['USER-A']"
pings 3 "$B" || fail "A (terminal 3) cannot ping B: $(cat "$WORK/ping.out")"
pings 1 "$D" || fail "C (terminal 1) cannot ping D: $(cat "$WORK/ping.out")"
pass "drawings 9 and 2: A and C swapped terminals and are in their groups again"

# --- cug-logout@cug2.service: B's card out, terminal 2 out ------------------
read -r -a watch <<< "$(exec_start cug-logout@.service cug2)"
ip netns exec "$(term_ns 2)" setpriv --no-new-privs --bounding-set="$(bounding cug-logout@.service)" -- \
  "${watch[@]}" > "$WORK/cug-logout2.log" 2>&1 &
cleanup_pids+=($!)
# Until it watches the reader it holds a PC/SC context: then the card can go.
for _ in $(seq 600); do
  ls -l "/proc/$!/fd" 2>/dev/null | grep -q socket && break
  pause_us 50000
done
card_pull B
until_shows 2 'd["user"]' None
until_shows 3 'len(d["peers"])' 0
for _ in $(seq 600); do grep -q "nameserver $B" "$WORK/resolv-cug2.conf" || break; pause_us 50000; done
[ "$(grep -v '^#' "$WORK/resolv-cug2.conf")" = "nameserver 192.0.2.1" ] ||
  fail "B's logout left terminal 2's resolv.conf as: $(cat "$WORK/resolv-cug2.conf")"
grep -q "event=card_removed" "$WORK/cug-logout2.log" ||
  fail "cug-logout@cug2 did not log the removal: $(cat "$WORK/cug-logout2.log")"
pass "cug-logout@cug2.service logged B out when the card left, and resolv.conf is as it was"

expect 0 admin server status --json
[ "$(printf '%s' "$OUT" | json_get 'd["sessions"]')" = 3 ] || fail "cugd's sessions: $OUT"
for t in 1 2 3 4; do kill "${TUN[$t]}"; done
kill "$cugd"
for pid in "$cugd" "${TUN[@]}"; do
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; pause_us 50000; done
  kill -0 "$pid" 2>/dev/null && fail "PID $pid did not stop on SIGTERM"
done
grep -q "event=stopping signal=TERM" "$WORK/cugd.log" || fail "cugd's log: $(cat "$WORK/cugd.log")"
for t in 1 3 4; do
  [ "$(grep -v '^#' "$WORK/resolv-cug$t.conf")" = "nameserver 192.0.2.1" ] ||
    fail "terminal $t's resolv.conf after cug-tun stopped: $(cat "$WORK/resolv-cug$t.conf")"
done
pass "the services stop on SIGTERM; every resolv.conf is as it was"
