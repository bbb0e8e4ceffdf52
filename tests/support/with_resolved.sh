#!/usr/bin/env bash
# with_resolved.sh DIR CMD...: CMD in a mount namespace of its own that has
# the real systemd-resolved on a private system bus (dbus-daemon), as a
# terminal with systemd has them. systemd-resolved comes from Debian's
# package, extracted into DIR (scripts/install-deps downloads it; it is never
# installed on this machine: installed, it would take over /etc/resolv.conf).
# Run it in the terminal's network namespace: resolved watches the links
# there, and serves 127.0.0.53, which the namespace's /etc/resolv.conf names
# (a link to its stub-resolv.conf).
# The two daemons' PIDs go to DIR/pids (the caller stops them); their logs to
# DIR/dbus.log and DIR/resolved.log. Nothing of the host's /usr, /etc or
# /run changes: they are overlaid or replaced in this namespace only.
set -euo pipefail
dir=$1; shift
if [ "${WITH_RESOLVED_INSIDE:-}" != 1 ]; then
  deb=$(ls /var/cache/apt/archives/systemd-resolved_*.deb 2>/dev/null | tail -1) ||
    { echo "with_resolved: no systemd-resolved package: run scripts/install-deps" >&2; exit 69; }
  mkdir -p "$dir/deb" "$dir/usr/lib" "$dir/etc"
  dpkg-deb -x "$deb" "$dir/deb"
  cp -a "$dir/deb/usr/." "$dir/usr/"
  cp -a "$dir/deb/lib/." "$dir/usr/lib/"   # a merged-/usr system's /lib
  cp -a "$dir/deb/etc/." "$dir/etc/"
  # The user resolved drops to (sysusers would make it), and resolv.conf as
  # Debian's package makes it: the stub's, with the links' search domains.
  { cat /etc/passwd; echo 'systemd-resolve:x:990:990:systemd Resolver:/:/usr/sbin/nologin'; } > "$dir/etc/passwd"
  { cat /etc/group; echo 'systemd-resolve:x:990:'; } > "$dir/etc/group"
  ln -s /run/systemd/resolve/stub-resolv.conf "$dir/etc/resolv.conf"
  WITH_RESOLVED_INSIDE=1 exec unshare --mount --propagation private "$0" "$dir" "$@"
fi
ip link set lo up
mount -t overlay overlay -o "lowerdir=$dir/usr:/usr" /usr
mount -t overlay overlay -o "lowerdir=$dir/etc:/etc" /etc
mount -t tmpfs -o mode=0755 cug-resolved /run
mkdir -p /run/dbus /run/systemd/resolve
chown systemd-resolve:systemd-resolve /run/systemd/resolve
dbus-daemon --system --fork --print-pid > "$dir/dbus.pid" 2> "$dir/dbus.log"
/lib/systemd/systemd-resolved > "$dir/resolved.log" 2>&1 &
echo "$(cat "$dir/dbus.pid") $!" > "$dir/pids"
unset WITH_RESOLVED_INSIDE
# Until resolved answers on the bus (a bound for a busy machine, not a measure).
for _ in $(seq 400); do
  resolvectl status > /dev/null 2>&1 && exec "$@"
  sleep 0.05
done
echo "with_resolved: systemd-resolved did not come up: $(cat "$dir/resolved.log" "$dir/dbus.log")" >&2
exit 69
