#!/usr/bin/env bash
# The Debian packages, as an administrator gets them: built by
# scripts/package from the tree's tracked files (what a clean clone holds),
# lintian-clean (no error, no warning), each holding exactly its files,
# installed with dpkg into a throw-away root (maintainer scripts run with
# DPKG_ROOT: the _cug user, /var/lib/cug 0700, cugd.service enabled, the
# conffile registered), the patent's scenario run from the installed
# programs, units and configuration files (scenario.sh), and purged, leaving
# only what Debian keeps (the system user). The host's /etc, /run, /var and
# dpkg database are never touched.
# CUG_PACKAGE_DIR=DIR reuses packages built before (for quick reruns).
set -euo pipefail
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cug-package-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

debs=${CUG_PACKAGE_DIR:-$work/debs}
if [ -z "${CUG_PACKAGE_DIR:-}" ]; then
  start=$SECONDS
  # Without debug data (-g, the -dbgsym packages): making and compressing it
  # takes longer than the build, nothing here reads it, and the packages
  # are stripped of it either way.
  DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" DEB_CXXFLAGS_STRIP=-g \
    "$tree/scripts/package" "$debs" > "$work/package.log" 2>&1 ||
    fail "scripts/package: $(tail -n 20 "$work/package.log")"
  echo "ok: scripts/package built the packages in $((SECONDS - start)) s"
fi
version=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for p in "cug-common_${version}_all" "cugd_${version}_$arch" "cug-terminal_${version}_$arch" "libpam-cug_${version}_$arch"; do
  [ -f "$debs/$p.deb" ] || fail "no $p.deb in $debs: $(ls "$debs")"
done

# lintian, pedantic: errors and warnings fail; the rest is printed.
lintian --pedantic --fail-on error,warning --display-info "$debs"/cug*.changes \
  > "$work/lintian.log" 2>&1 || fail "lintian: $(grep -v 'running with root privileges' "$work/lintian.log")"
grep -v 'running with root privileges' "$work/lintian.log" | sed 's/^/  lintian: /' || true
echo "ok: lintian --pedantic has no error or warning"

# Each package holds exactly its files (directories aside).
contents() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | LC_ALL=C sort; }
doc() { printf 'usr/share/doc/%s/changelog.gz\nusr/share/doc/%s/copyright\n' "$1" "$1"; }
want_common="$( { printf '%s\n' usr/share/man/man5/cug.conf.5.gz usr/share/man/man7/cug.7.gz; doc cug-common; } | LC_ALL=C sort)"
want_cugd="$( { printf '%s\n' etc/cug/cugd.conf lib/systemd/system/cugd.service \
  usr/lib/sysusers.d/cug.conf usr/lib/tmpfiles.d/cug.conf usr/sbin/cug-admin usr/sbin/cugd \
  usr/share/lintian/overrides/cugd usr/share/man/man8/cug-admin.8.gz usr/share/man/man8/cugd.8.gz \
  usr/share/bash-completion/completions/cug-admin usr/share/bash-completion/completions/cugd \
  usr/share/zsh/vendor-completions/_cug-admin usr/share/zsh/vendor-completions/_cugd
  doc cugd; } | LC_ALL=C sort)"
want_terminal="$( { printf '%s\n' lib/systemd/system/cug-logout@.service lib/systemd/system/cug-tun@.service \
  lib/udev/rules.d/90-cug-logout.rules usr/bin/cug-login usr/bin/cug-logout usr/sbin/cug-tun \
  usr/share/doc/cug-terminal/examples/cug0.conf usr/share/lintian/overrides/cug-terminal \
  usr/share/man/man1/cug-login.1.gz \
  usr/share/man/man1/cug-logout.1.gz usr/share/man/man8/cug-tun.8.gz \
  usr/share/bash-completion/completions/cug-login usr/share/bash-completion/completions/cug-logout \
  usr/share/bash-completion/completions/cug-tun usr/share/zsh/vendor-completions/_cug-login \
  usr/share/zsh/vendor-completions/_cug-logout usr/share/zsh/vendor-completions/_cug-tun
  doc cug-terminal; } | LC_ALL=C sort)"
want_pam="$( { printf '%s\n' "lib/$multiarch/security/pam_cug.so" usr/share/man/man8/pam_cug.8.gz \
  usr/share/pam-configs/cug; doc libpam-cug; } | LC_ALL=C sort)"
for pair in "cug-common_${version}_all:$want_common" "cugd_${version}_$arch:$want_cugd" \
            "cug-terminal_${version}_$arch:$want_terminal" "libpam-cug_${version}_$arch:$want_pam"; do
  p=${pair%%:*} want=${pair#*:}
  got=$(contents "$debs/$p.deb")
  [ "$got" = "$want" ] || fail "$p.deb holds other files than it should:
$(diff <(echo "$want") <(echo "$got") || true)"
done
echo "ok: dpkg-deb -c: each package holds exactly its files"

# Install into a root of our own: an empty dpkg database, the maintainer
# scripts run by the host's shell with DPKG_ROOT (systemd-sysusers --root,
# systemd-tmpfiles --root, deb-systemd-helper). libc and systemd are not in
# that database, hence --force-depends.
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/etc"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
# What every Debian system has, and systemd owns there.
mkdir -p "$root/etc/systemd/system" "$root/var/lib/systemd"
# And what libpam-runtime makes there: pam_unix's profile and the common-*
# files pam-auth-update writes from it (as its postinst does on a new
# system). pam-auth-update keeps its choices in debconf, which reads its
# configuration and databases under DPKG_ROOT: the root's own, never the
# host's.
mkdir -p "$root/usr/share/pam-configs" "$root/etc/pam.d" "$root/var/lib/pam" \
  "$root/var/cache/debconf"
cp /usr/share/pam-configs/unix "$root/usr/share/pam-configs/"
cat > "$root/etc/debconf.conf" <<EOF
Config: config
Templates: templates

Name: config
Driver: File
Filename: /var/cache/debconf/config.dat

Name: templates
Driver: File
Mode: 644
Filename: /var/cache/debconf/templates.dat
EOF
export DEBIAN_FRONTEND=noninteractive
unset DEBCONF_SYSTEMRC
DPKG_ROOT="$root" pam-auth-update --root "$root" --force --package > "$work/pam-auth-update.log" 2>&1 ||
  fail "pam-auth-update in the root: $(cat "$work/pam-auth-update.log")"
snapshot() { (cd "$root" && find . -mindepth 1 ! -path './var/lib/dpkg/*' ! -path './var/cache/debconf/*' ! -path './etc/passwd*' \
  ! -path './etc/group*' ! -path './etc/shadow*' ! -path './etc/gshadow*' ! -path './etc/.pwd.lock' \
  -print | LC_ALL=C sort); }
before=$(snapshot)
in_root() { dpkg --root="$root" --force-depends --force-script-chrootless "$@"; }
in_root -i "$debs/cug-common_${version}_all.deb" "$debs/cugd_${version}_$arch.deb" \
  "$debs/cug-terminal_${version}_$arch.deb" "$debs/libpam-cug_${version}_$arch.deb" > "$work/dpkg.log" 2>&1 ||
  fail "dpkg -i: $(cat "$work/dpkg.log")"
for p in cug-common cugd cug-terminal libpam-cug; do
  [ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}' "$p")" = "ii " ] ||
    fail "$p is not installed: $(cat "$work/dpkg.log")"
done
entry=$(grep '^_cug:' "$root/etc/passwd") || fail "no _cug user in the root: $(cat "$work/dpkg.log")"
IFS=: read -r _ _ uid gid _ _ _ <<< "$entry"
[ "$(stat -c '%a %u %g' "$root/var/lib/cug")" = "700 $uid $gid" ] ||
  fail "/var/lib/cug is $(stat -c '%a %u %g' "$root/var/lib/cug" 2>&1), not 700 _cug"
[ -L "$root/etc/systemd/system/multi-user.target.wants/cugd.service" ] ||
  fail "cugd.service is not enabled: $(cat "$work/dpkg.log")"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}\n' cugd | grep -q '^ /etc/cug/cugd.conf ' ||
  fail "/etc/cug/cugd.conf is not a conffile of cugd"
[ "$(stat -c %a "$root/usr/sbin/cugd")" = 755 ] || fail "cugd is not 0755"
"$root/usr/sbin/cugd" --version | grep -q "^cugd " || fail "the installed cugd does not run"
echo "ok: installed: _cug ($uid), /var/lib/cug 0700, cugd.service enabled, cugd.conf a conffile"

# libpam-cug: its profile is offered, off until the administrator turns it
# on; then common-auth and common-session name the module, and the packaged
# module loads in the real libpam and answers (no cug-tun here: unavailable).
grep -q pam_cug "$root/etc/pam.d/common-auth" && fail "installing libpam-cug turned the card login on"
DPKG_ROOT="$root" pam-auth-update --root "$root" --enable cug > "$work/pam-auth-update.log" 2>&1 ||
  fail "pam-auth-update --enable cug: $(cat "$work/pam-auth-update.log")"
grep -qP '^auth\toptional\tpam_cug.so no_card=ignore$' "$root/etc/pam.d/common-auth" &&
  grep -qP '^session\toptional\tpam_cug.so' "$root/etc/pam.d/common-session" &&
  ! grep -q pam_cug "$root/etc/pam.d/common-session-noninteractive" ||
  fail "pam-auth-update --enable cug: $(grep -H pam_cug "$root"/etc/pam.d/common-*)"
mkdir -p "$work/pam.d"
printf 'auth required %s socket_dir=%s\n' "$root/lib/$multiarch/security/pam_cug.so" "$work/none" > "$work/pam.d/check"
status=0
"$CUG_BUILD_DIR/tests/cug-pam-run" "$work/pam.d" check USER-A auth > "$work/pam-run.log" 2>&1 || status=$?
[ "$status" = 9 ] && grep -q "error: cug: cug-tun is not running" "$work/pam-run.log" ||
  fail "the packaged pam_cug.so: status $status, $(cat "$work/pam-run.log")"
echo "ok: libpam-cug's profile is off until pam-auth-update --enable cug; the packaged module loads and answers"

# The installed cug-admin makes a store, as root, in the place the package
# made: it is _cug's, so cugd (running as _cug) can open it. (_cug must
# reach that place, as it does /var/lib: our test directory opens to it.)
chmod 0711 "$work"
"$root/usr/sbin/cug-admin" --store "$root/var/lib/cug/store" init --server-name packaged \
  --password-cost m=8,t=1,p=1 > "$work/init.log" 2>&1 || fail "cug-admin init: $(cat "$work/init.log")"
[ -z "$(find "$root/var/lib/cug" ! -uid "$uid")" ] || fail "the store has files not _cug's"
echo "ok: the installed cug-admin makes the store as _cug"

# cugd as its unit runs it: the unit's ExecStart, as its User=, with the
# directories systemd would make (RuntimeDirectory=cugd, StateDirectory=cug),
# reading the installed /etc/cug/cugd.conf. There is no systemd here, and
# the host's /usr, /etc, /run and /var/lib are not ours: a private mount
# namespace shows the installed root over the host's /usr and /etc (read
# only) and takes writes to /run and /var/lib into directories of this test.
unit="$root/lib/systemd/system/cugd.service"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
ns="$work/ns"
mkdir -p "$ns/etc" "$ns/run-up" "$ns/run-work" "$ns/var-up" "$ns/var-work"
cp -a "$root/etc/cug" "$ns/etc/"
for _ in $(seq 50); do
  port=$(( (RANDOM % 20000) + 30000 ))
  ss -Htln | awk '{print $4}' | grep -q ":$port$" || break
done
printf '\n# added by the test\nlisten = 127.0.0.1:%s\n' "$port" >> "$ns/etc/cug/cugd.conf"
{ cat /etc/passwd; grep "^$user:" "$root/etc/passwd"; } > "$ns/etc/passwd"
{ cat /etc/group; grep "^$user:" "$root/etc/group"; } > "$ns/etc/group"
cp -a "$root/var/lib/cug" "$ns/var-up/"
host_before=$(ls -d /etc/cug /run/cug /run/cugd /var/lib/cug 2>/dev/null || true)
unshare --mount --propagation private -- bash -s "$root" "$ns" "$exec_start" "$user" \
  > "$work/ns.log" 2>&1 <<'NS' || fail "cugd from its unit: $(cat "$work/ns.log")"
set -euo pipefail
root=$1 ns=$2 exec_start=$3 user=$4
mount -t overlay overlay -o "lowerdir=$root/usr:/usr" /usr
mount -t overlay overlay -o "lowerdir=$ns/etc:/etc" /etc
mount -t overlay overlay -o "lowerdir=/run,upperdir=$ns/run-up,workdir=$ns/run-work" /run
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$ns/var-up,workdir=$ns/var-work" /var/lib
install -d -m 0750 -o "$user" -g "$user" /run/cugd
# Type=notify, as systemd does it: cugd is ready when it says READY=1 on
# $NOTIFY_SOCKET, a socket of ours bound (open to _cug) before cugd starts.
read -r -a argv <<< "$exec_start"
python3 - "$ns" "$user" "${argv[@]}" > "$ns/notified" 2>&1 <<'PY' || { echo "cugd never said READY=1: $(cat "$ns/notified" "$ns/cugd.log")"; exit 1; }
import os, socket, subprocess, sys
ns, user, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
path = os.path.join(ns, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
cugd = subprocess.Popen(["setpriv", "--reuid=" + user, "--regid=" + user, "--clear-groups", "--"] + argv,
                        env=dict(os.environ, NOTIFY_SOCKET=path), stdin=subprocess.DEVNULL,
                        stderr=open(os.path.join(ns, "cugd.log"), "w"))
print("pid", cugd.pid, flush=True)
s.settimeout(1)
while True:
    try:
        print(s.recv(4096).decode(), flush=True)
        break
    except socket.timeout:
        if cugd.poll() is not None:
            sys.exit("cugd exited with status %d" % cugd.returncode)
PY
cugd=$(sed -n 's/^pid //p' "$ns/notified")
trap 'kill $cugd 2>/dev/null || true' EXIT
grep -q "READY=1" "$ns/notified" || { echo "cugd's notification: $(cat "$ns/notified")"; exit 1; }
[ -S /run/cugd/cugd.sock ] || { echo "READY=1 before the control socket"; exit 1; }
grep -q "event=started port=$(sed -n 's/^listen = 127.0.0.1://p' /etc/cug/cugd.conf)" "$ns/cugd.log" ||
  { echo "cugd did not take the port of /etc/cug/cugd.conf: $(cat "$ns/cugd.log")"; exit 1; }
# The installed cug-admin, with its defaults only, finds the store and tells
# this cugd of its change on the default control socket.
cug-admin group add VPN1 --prefix 198.51.100.0/24
status=$(python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/cugd/cugd.sock")
s.sendall(b"cmd=status\n\n")
data = b""
while not data.endswith(b"\n\n"):
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
print(data.decode())')
case "$status" in *reconcile_requests=1*) ;; *) echo "cugd was not told of the change: $status"; exit 1 ;; esac
[ "$(stat -c %U /proc/$cugd)" = "$user" ] || { echo "cugd runs as $(stat -c %U /proc/$cugd)"; exit 1; }
echo "cugd served on $(sed -n 's/^listen = //p' /etc/cug/cugd.conf) as $user"
NS
[ "$(ls -d /etc/cug /run/cug /run/cugd /var/lib/cug 2>/dev/null || true)" = "$host_before" ] ||
  fail "the host's /etc/cug, /run/cug, /run/cugd or /var/lib/cug changed"
echo "ok: the installed cugd, started from its unit's ExecStart as $user, reads /etc/cug/cugd.conf; the installed cug-admin reaches it by its defaults"

# The patent's scenario from the installed paths: the same namespace set-up,
# cugd and four cug-tun@ instances started from their units in network
# namespaces of their own (tests/install/scenario.sh). Each terminal's
# interface has its file, made from the packaged example as an administrator
# would; cugd listens on every address of its namespace.
sed -i 's/^listen = .*/listen = "[::]:7443"/' "$ns/etc/cug/cugd.conf"  # quoted: cug.conf(5)
for t in 1 2 3 4; do
  sed "s/^#port = .*/port = 51820/" "$root/usr/share/doc/cug-terminal/examples/cug0.conf" > "$ns/etc/cug/cug$t.conf"
done
# The real resolvconf for the terminals (openresolv, extracted, never
# installed on the host: scripts/install-deps package downloads it), in /usr
# as a merged-/usr system has it.
rc="$work/resolvconf"
deb=$(ls /var/cache/apt/archives/openresolv_*.deb 2>/dev/null | tail -1) ||
  fail "no openresolv package: run scripts/install-deps package"
mkdir -p "$rc/deb"
dpkg-deb -x "$deb" "$rc/deb"
mkdir -p "$rc/usr"
mv "$rc/deb/sbin" "$rc/usr/sbin"; mv "$rc/deb/lib" "$rc/usr/lib"
printf 'resolv_conf=/etc/resolv.conf\n' > "$ns/etc/resolvconf.conf"
mount_ns() {
  cat <<'MOUNTS'
mount -t overlay overlay -o "lowerdir=$root/usr:$root/../resolvconf/usr:/usr" /usr
mount -t overlay overlay -o "lowerdir=$ns/etc:/etc" /etc
mount -t overlay overlay -o "lowerdir=/run,upperdir=$ns/run-up,workdir=$ns/run-work" /run
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$ns/var-up,workdir=$ns/var-work" /var/lib
MOUNTS
}
start=$SECONDS
unshare --mount --propagation private -- bash -c "set -e; root=\$1 ns=\$2; $(mount_ns); exec bash \$3 \$4 \$5" \
  scenario "$root" "$ns" "$here/scenario.sh" "$root/lib/systemd/system" "$tree/tests" \
  > "$work/scenario.log" 2>&1 || fail "the scenario from the packages: $(cat "$work/scenario.log")"
sed 's/^/  /' "$work/scenario.log"
[ "$(ls -d /etc/cug /run/cugd /run/cug /var/lib/cug 2>/dev/null || true)" = "$host_before" ] ||
  fail "the host's /etc/cug, /run/cug, /run/cugd or /var/lib/cug changed"
echo "ok: the patent's scenario ran from the installed packages in $((SECONDS - start)) s"

# Remove, then purge: nothing of cug is left but the user (and dpkg's own
# records of the packages' absence).
in_root -r libpam-cug cug-terminal cugd cug-common > "$work/remove.log" 2>&1 || fail "dpkg -r: $(cat "$work/remove.log")"
grep -q pam_cug "$root"/etc/pam.d/common-* && fail "removing libpam-cug left pam_cug in $(grep -l pam_cug "$root"/etc/pam.d/common-*)"
[ -e "$root/etc/cug/cugd.conf" ] || fail "remove took the conffile (only purge may)"
[ -d "$root/var/lib/cug/store" ] || fail "remove took the store (only purge may)"
in_root -P libpam-cug cug-terminal cugd cug-common > "$work/purge.log" 2>&1 || fail "dpkg -P: $(cat "$work/purge.log")"
left=$(comm -13 <(echo "$before") <(snapshot))
[ -z "$left" ] || fail "after purge, left in the root: $left"
grep -q '^_cug:' "$root/etc/passwd" || fail "purge removed the system user (Debian keeps it)"
echo "ok: remove keeps the conffile and the store and takes pam_cug out of common-*; purge leaves only the system user"
