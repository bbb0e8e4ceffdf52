#!/usr/bin/env bash
# The patent's scenario, step by step, on a throw-away store:
# a server, users USER-A and USER-B in group VPN1, USER-C and USER-D in VPN2
# (JP 2000-059357, drawing 6).
set -euo pipefail
build=${1:-build/release}
admin_bin="$(cd "$build/cmd" && pwd)/cug-admin"
export CUG_VCARD="$(cd "$build/tests" && pwd)/cug-vcard"
export CUG_CARD_WAIT="$(cd "$build/tests" && pwd)/cug-card-wait"
. "$(dirname "$0")/../tests/support/pcsc.sh"
work=$(mktemp -d /tmp/cug-demo.XXXXXX)
trap 'pcsc_stop; rm -rf "$work"' EXIT
store="$work/store"
admin() { "$admin_bin" --store "$store" "$@"; }
say() { printf '\n\033[1m%s\033[0m\n' "$*" 2>/dev/null || printf '\n%s\n' "$*"; }
[ -t 1 ] || say() { printf '\n== %s\n' "$*"; }
run() { printf '$ cug-admin %s\n' "$*"; admin "$@"; }

say "1. The administrator creates the management server's store: its key and certificate."
run init --server-name cug-demo-server

say "2. Two groups, one VPN each, with their overlay prefixes."
run group add VPN1 --prefix 10.0.0.0/24
run group add VPN2 --prefix 10.0.1.0/24

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
say "Next steps of the scenario (login, tunnels, the terminal swap) arrive with cugd, cug-login and cug-tun."
