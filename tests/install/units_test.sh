#!/usr/bin/env bash
# The installed systemd units: `systemd-analyze verify` says nothing of any
# (a typo in a key is only a warning there, so any output fails), each
# service's exposure (`systemd-analyze security --offline=yes`) is no worse
# than the figure in docs/DEPLOYMENT.md, and the sysusers and tmpfiles
# snippets make the _cug user and its 0700 directory in a throw-away root.
set -euo pipefail
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
: "${CUG_BUILD_DIR:?CUG_BUILD_DIR must name a build directory}"
work=$(mktemp -d "${TMPDIR:-/tmp}/cug-units-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (scripts/install-deps)"
root="$work/root"
DESTDIR="$root" cmake --install "$CUG_BUILD_DIR" --prefix /usr > "$work/install.log" 2>&1 ||
  fail "cmake --install: $(tail -n 3 "$work/install.log")"
units="$root/lib/systemd/system"

# The exposure each service may have at most (0 best, 10 worst).
declare -A most=([cugd.service]=1.4 [cug-tun@.service]=2.6 [cug-logout@.service]=0.7)
[ "$(find "$units" -name '*.service' | wc -l)" = "${#most[@]}" ] ||
  fail "units installed: $(ls "$units"); this test knows ${!most[*]}"

# verify checks that ExecStart names an executable: the installed ones.
# (All in one directory first: cug-logout@ names cug-tun@.)
mkdir "$work/units"
for unit in "${!most[@]}"; do
  sed -e "s|^ExecStart=/usr/|ExecStart=$root/usr/|" "$units/$unit" > "$work/units/$unit"
done
for unit in "${!most[@]}"; do
  out=$(cd "$work/units" && systemd-analyze verify --man=no "./$unit" 2>&1) ||
    fail "systemd-analyze verify $unit: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $unit has something to say: $out"
  score=$(cd "$work/units" && systemd-analyze security --offline=yes "./$unit" 2>&1 |
          sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
  [ -n "$score" ] || fail "systemd-analyze security gave no score for $unit"
  awk -v s="$score" -v m="${most[$unit]}" 'BEGIN { exit !(s <= m) }' ||
    fail "$unit's exposure is $score, worse than ${most[$unit]} (docs/DEPLOYMENT.md)"
  echo "ok: $unit verifies; exposure $score (at most ${most[$unit]})"
done

# A typo is caught (the check above can fail).
sed -e 's/^ProtectSystem=/ProtectSytem=/' "$work/units/cugd.service" > "$work/units/typo.service"
out=$(cd "$work/units" && systemd-analyze verify --man=no ./typo.service 2>&1 || true)
case "$out" in *"Unknown key"*ProtectSytem*) ;; *) fail "verify did not flag a typo: $out" ;; esac

# Every ExecStart runs a program the tree installs, with flags it takes.
for unit in "${!most[@]}"; do
  line=$(sed -n 's/^ExecStart=//p' "$units/$unit")
  read -r -a argv <<< "${line//%i/cug0}"
  [ -x "$root${argv[0]}" ] || fail "$unit runs ${argv[0]}, which is not installed"
  "$root${argv[0]}" "${argv[@]:1}" --help > /dev/null 2> "$work/err" ||
    fail "$unit: '${argv[*]}' is not a command line its program takes: $(cat "$work/err")"
done
echo "ok: every unit's ExecStart is an installed program and a command line it takes"

# sysusers and tmpfiles, applied to a throw-away root (the host is not touched).
sys="$work/sys"
mkdir -p "$sys/etc"
systemd-sysusers --root="$sys" "$root/usr/lib/sysusers.d/cug.conf" > "$work/sysusers.log" 2>&1 ||
  fail "systemd-sysusers: $(cat "$work/sysusers.log")"
entry=$(grep '^_cug:' "$sys/etc/passwd") || fail "no _cug user made: $(cat "$sys/etc/passwd")"
IFS=: read -r _ _ uid gid _ home shell <<< "$entry"
[ "$home" = /var/lib/cug ] && [ "$uid" -lt 1000 ] && [ "$uid" -gt 0 ] ||
  fail "_cug is not a system user at home in /var/lib/cug: $entry"
case "$shell" in */nologin) ;; *) fail "_cug can log in: $entry" ;; esac
systemd-tmpfiles --root="$sys" --create "$root/usr/lib/tmpfiles.d/cug.conf" > "$work/tmpfiles.log" 2>&1 ||
  fail "systemd-tmpfiles: $(cat "$work/tmpfiles.log")"
[ "$(stat -c '%a %u %g' "$sys/var/lib/cug")" = "700 $uid $gid" ] ||
  fail "/var/lib/cug is $(stat -c '%a %u %g' "$sys/var/lib/cug"), not 700 owned by _cug ($uid:$gid)"
echo "ok: sysusers makes the system user _cug ($uid), tmpfiles its /var/lib/cug 0700"
