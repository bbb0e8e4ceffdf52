#!/usr/bin/env bash
# The patent's scenario (JP 2000-059357), step by step, on a throw-away store
# and throw-away network namespaces: a server, users USER-A and USER-B in
# group VPN1, USER-C and USER-D in VPN2 (drawing 6), four terminals with card
# readers; they log in (drawings 1 and 8), then A and C swap terminals
# (drawings 9 and 2) and reach their groups again at the same addresses.
# Everything is removed at the end, also after a failure or Ctrl-C.
set -euo pipefail
build=${1:-build/release}
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces, TUN devices)" >&2
  exit 77
fi
CUG_BIN="$(cd "$build/cmd" && pwd)"
admin_bin="$CUG_BIN/cug-admin"
export CUG_VCARD="$(cd "$build/tests" && pwd)/cug-vcard"
export CUG_CARD_WAIT="$(cd "$build/tests" && pwd)/cug-card-wait"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../tests/support/pcsc.sh"
. "$here/../tests/support/netns.sh"
. "$here/../tests/support/terminals.sh"
work=$(mktemp -d /tmp/cug-demo.XXXXXX)
WORK=$work
cleanup_pids=()
fail() { echo "demo: $*" >&2; exit 1; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
teardown() {
  [ "$BASHPID" = "$$" ] || return 0  # not in a background subshell (see tests/admin/lib.sh)
  local pid
  for pid in "${cleanup_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${cleanup_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pcsc_stop
  net_down
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM
store="$work/store"
admin() { "$admin_bin" --store "$store" "$@"; }
say() { printf '\n\033[1m%s\033[0m\n' "$*" 2>/dev/null || printf '\n%s\n' "$*"; }
[ -t 1 ] || say() { printf '\n== %s\n' "$*"; }
run() { printf '$ cug-admin %s\n' "$*"; admin "$@"; }

say "1. The administrator creates the management server's store: its key and certificate."
run init --server-name cug-demo-server

say "2. Two groups, one VPN each, with their overlay prefixes."
run group add VPN1 --prefix 198.51.100.0/24
run group add VPN2 --prefix 203.0.113.0/24

say "3. Four users, each with a password (hashed with Argon2id; read here from a descriptor, as a script would)."
n=0
for user in USER-A USER-B USER-C USER-D; do
  n=$((n + 1))
  printf '$ cug-admin user add %s --password-fd 3   # password passwd%s-%s\n' "$user" "$n" "${user#USER-}"
  admin user add "$user" --password-fd 3 3< <(printf 'passwd%s-%s\n' "$n" "${user#USER-}")
done

say "4. USER-A and USER-B join VPN1, USER-C and USER-D join VPN2; each gets a stable overlay address."
run member add VPN1 USER-A
run member add VPN1 USER-B
run member add VPN2 USER-C
run member add VPN2 USER-D

say "5. Each user gets a smart card. Here: four virtual PIV cards in four readers of a private pcscd."
pcsc_start 4
n=0
for user in USER-A USER-B USER-C USER-D; do
  card_init "$user"
  card_insert "$user" "$n"
  printf '$ cug-admin card enroll %s --reader "%s" --new-pin-fd 3   # PIN 24680%s\n' "$user" "$(reader_name $n)" "$n"
  admin card enroll "$user" --reader "$(reader_name $n)" --new-pin-fd 3 3< <(printf '24680%s\n' "$n")
  n=$((n + 1))
done

say "What a terminal reads from USER-A's card without the PIN:"
run card show --reader "$(reader_name 0)"

say "The server's tables now. Users:"
run user list
say "Groups:"
run group list
say "Members with their overlay addresses (the patent's drawing 6; no terminal is registered yet):"
run member list
say "What was done, from the audit log:"
run audit
say "The store verifies itself:"
run check
say "6. The network: a server and four terminals, each in its own network namespace, on one bridge."
net_up 4
echo "   server      192.0.2.1   (cugd listens on TCP and UDP port 7443)"
for t in 1 2 3 4; do echo "   terminal $t  192.0.2.1$t  (card reader $((t - 1)): $(reader_name $((t - 1))))"; done

say "7. The management server starts (cugd), and cug-tun on every terminal: a TUN device cug0, no addresses yet."
export CUG_CUGD_SOCKET="$work/cugd.sock"
ip netns exec "$NET_SERVER" "$CUG_BIN/cugd" --store "$store" --listen "[::]:7443" \
  --control-socket "$CUG_CUGD_SOCKET" 2>>"$work/cugd.log" &
cleanup_pids+=($!)
for _ in $(seq 200); do [ -S "$CUG_CUGD_SOCKET" ] && break; sleep 0.02; done
[ -S "$CUG_CUGD_SOCKET" ] || fail "cugd did not start: $(cat "$work/cugd.log")"
SERVER_AT=("" "192.0.2.1:7443" "192.0.2.1:7443" "192.0.2.1:7443" "192.0.2.1:7443")
for t in 1 2 3 4; do tun_start "$t"; done
printf '$ ip -brief link show cug0   # at terminal 1\n'
in_term 1 ip -brief link show cug0

# demo_login TERMINAL USER READER PIN PASSWORD
demo_login() {
  printf '$ cug-login --server 192.0.2.1 --reader "%s"   # at terminal %s: PIN %s, password %s\n' \
    "$(reader_name "$3")" "$1" "$4" "$5"
  login "$1" "$3" "$4" "$5" || fail "the login of $2 at terminal $1 failed"
}
# ping_line TERMINAL WHO ADDRESS WANT: one line saying whether it got
# through; the demo stops if that is not what the scenario says (WANT: yes/no).
ping_line() {
  local got=no
  in_term "$1" ping -c 2 -i 0.2 -W 1 "$3" >/dev/null 2>&1 && got=yes
  printf '   terminal %s -> %-14s %-8s %s\n' "$1" "$3" "($2)" \
    "$([ $got = yes ] && echo reachable || echo 'no answer')"
  [ "$got" = "$4" ] || fail "terminal $1 -> $3: expected $([ "$4" = yes ] && echo an answer || echo silence)"
}
wait_peers() {  # wait_peers T N: until terminal T knows N peers with their endpoints
  for _ in $(seq 100); do
    [ "$(show "$1" 'len([p for p in d["peers"] if p.get("endpoint")])')" = "$2" ] && return 0
    sleep 0.05
  done
}

say "8. Drawing 1: each user inserts the card at a terminal and logs in: A at 1, B at 2, C at 3, D at 4."
demo_login 1 USER-A 0 246800 passwd1-A
demo_login 2 USER-B 1 246801 passwd2-B
demo_login 3 USER-C 2 246802 passwd3-C
demo_login 4 USER-D 3 246803 passwd4-D
for t in 1 2 3 4; do wait_peers "$t" 1; done

say "The server's registration table (drawing 8): who is logged in, in which group, from which terminal."
run session list

say "9. Traffic: within each group it flows, between the groups nothing crosses."
ping_line 1 USER-B 198.51.100.2 yes
ping_line 2 USER-A 198.51.100.1 yes
ping_line 3 USER-D 203.0.113.2 yes
ping_line 4 USER-C 203.0.113.1 yes
ping_line 1 USER-C 203.0.113.1 no
ping_line 3 USER-A 198.51.100.1 no
say "What terminal 1 sees (cug-tun show): its group, its peer, the bytes each way, the drop counters."
"$TUN" --socket-dir "$work/t1" show

say "10. Drawing 9: USER-A and USER-C pull their cards; cug-logout takes their terminals out."
card_pull USER-A; card_pull USER-C
printf '$ cug-logout   # at terminals 1 and 3 (a udev rule runs it when the card goes)\n'
"$CUG_BIN/cug-logout" --socket-dir "$work/t1"
"$CUG_BIN/cug-logout" --socket-dir "$work/t3"
run session list
ping_line 2 USER-A 198.51.100.1 no

say "11. Drawing 2: USER-A logs in at terminal 3, USER-C at terminal 1. Nobody changes any configuration."
card_insert USER-A 2; card_insert USER-C 0
demo_login 3 USER-A 2 246800 passwd1-A
demo_login 1 USER-C 0 246802 passwd3-C
for t in 1 2 3 4; do wait_peers "$t" 1; done
run session list
say "The same overlay addresses, now at other terminals:"
ping_line 3 USER-B 198.51.100.2 yes
ping_line 2 USER-A 198.51.100.1 yes
ping_line 1 USER-D 203.0.113.2 yes
ping_line 4 USER-C 203.0.113.1 yes
ping_line 3 USER-D 203.0.113.2 no
say "And by name: each terminal's cug-tun answers for the members of its groups (USER-B.VPN1.cug)."
name_line() {  # name_line TERMINAL SERVER NAME: what that terminal's resolver says
  printf '$ dig +short @%s %s   # at terminal %s\n' "$2" "$3" "$1"
  local got
  got=$(in_term "$1" dig +time=5 +tries=1 +short "@$2" "$3" A) || fail "dig at terminal $1 failed"
  printf '%s\n' "${got:-(no such name here: it is in another group)}"
}
name_line 2 198.51.100.2 USER-A.VPN1.cug
name_line 3 198.51.100.1 USER-B.VPN1.cug
name_line 2 198.51.100.2 USER-C.VPN2.cug

say "12. Done. Stopping cug-tun and cugd, removing the namespaces, the virtual cards and the store."
