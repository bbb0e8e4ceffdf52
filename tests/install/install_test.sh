#!/usr/bin/env bash
# `cmake --install` into a throw-away DESTDIR (prefix /usr, as a package
# does): exactly the programs, man pages and examples, in their places and
# modes; nothing of the tests or benchmarks; no path of the build or source
# tree inside an installed file; and the installed programs work from there.
set -euo pipefail
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
build=${CUG_BUILD_DIR:?CUG_BUILD_DIR must name a build directory}
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cug-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
root="$work/root"

DESTDIR="$root" cmake --install "$build" --prefix /usr --strip > "$work/install.log" 2>&1 ||
  fail "cmake --install: $(tail -n 3 "$work/install.log")"

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
want="etc/cug/cugd.conf 644
lib/systemd/system/cug-logout@.service 644
lib/systemd/system/cug-tun@.service 644
lib/systemd/system/cugd.service 644
lib/udev/rules.d/90-cug-logout.rules 644
lib/$multiarch/security/pam_cug.so 644
usr/bin/cug-login 755
usr/bin/cug-logout 755
usr/lib/sysusers.d/cug.conf 644
usr/lib/tmpfiles.d/cug.conf 644
usr/sbin/cug-admin 755
usr/sbin/cug-tun 755
usr/sbin/cugd 755
usr/share/bash-completion/completions/cug-admin 644
usr/share/bash-completion/completions/cug-login 644
usr/share/bash-completion/completions/cug-logout 644
usr/share/bash-completion/completions/cug-tun 644
usr/share/bash-completion/completions/cugd 644
usr/share/doc/cug/examples/cug0.conf 644
usr/share/man/man1/cug-login.1 644
usr/share/man/man1/cug-logout.1 644
usr/share/man/man5/cug.conf.5 644
usr/share/man/man7/cug.7 644
usr/share/man/man8/cug-admin.8 644
usr/share/man/man8/cug-tun.8 644
usr/share/man/man8/cugd.8 644
usr/share/man/man8/pam_cug.8 644
usr/share/pam-configs/cug 644
usr/share/zsh/vendor-completions/_cug-admin 644
usr/share/zsh/vendor-completions/_cug-login 644
usr/share/zsh/vendor-completions/_cug-logout 644
usr/share/zsh/vendor-completions/_cug-tun 644
usr/share/zsh/vendor-completions/_cugd 644"
want=$(LC_ALL=C sort <<< "$want")  # wherever $multiarch sorts
got=$(cd "$root" && find . -type f -printf '%P %m\n' | LC_ALL=C sort)
[ "$got" = "$want" ] || fail "the installed tree differs from what it should be:
$(diff <(echo "$want") <(echo "$got") || true)"
echo "ok: $(echo "$got" | wc -l) files installed, each in its place with its mode; no test tool, no benchmark"

# No path of this machine's build or checkout in anything installed (a
# sanitizer build keeps them in the sanitizers' records: not checked there).
[ "${CUG_SANITIZED:-0}" = 1 ] && files="" || files=$(cd "$root" && find . -type f -printf '%P\n')
for f in $files; do
  if grep -qaF -e "$build" -e "$src" "$root/$f"; then
    fail "$f holds a path of the build or the source tree: $(grep -aoF -e "$build" -e "$src" "$root/$f" | head -n 1)"
  fi
done
[ -z "$files" ] && echo "ok: (sanitizers: build paths not checked)" ||
  echo "ok: no installed file names the build ($build) or the source tree ($src)"

# The installed programs run, with the FHS defaults compiled in.
for p in usr/sbin/cugd usr/sbin/cug-admin usr/sbin/cug-tun usr/bin/cug-login usr/bin/cug-logout; do
  "$root/$p" --help > "$work/help" 2>&1 || fail "$p --help: $(head -n 2 "$work/help")"
done
"$root/usr/sbin/cug-admin" --help | grep -qF /run/cugd/cugd.sock || fail "cug-admin's default control socket is not /run/cugd/cugd.sock"
"$root/usr/sbin/cugd" --help | grep -qF /run/cugd/cugd.sock || fail "cugd's default control socket is not /run/cugd/cugd.sock"
"$root/usr/bin/cug-login" --help | grep -qF /run/cug || fail "cug-login's default socket directory is not /run/cug"
CUG_CUGD_SOCKET="$work/none.sock" "$root/usr/sbin/cug-admin" --store "$work/store" init --server-name installed \
  --password-cost m=8,t=1,p=1 > "$work/init" 2>&1 || fail "the installed cug-admin cannot make a store: $(cat "$work/init")"
CUG_CUGD_SOCKET="$work/none.sock" "$root/usr/sbin/cug-admin" --store "$work/store" group add VPN1 --prefix 198.51.100.0/24 \
  > "$work/group" 2>&1 || fail "the installed cug-admin cannot add a group: $(cat "$work/group")"
man -l "$root/usr/share/man/man8/cugd.8" 2>/dev/null | grep -q "management server" || fail "the installed cugd(8) does not render"
echo "ok: the installed programs run from their installed paths, with /run/cug and /var/lib/cug as defaults"
