#!/usr/bin/env bash
# Configuration files (man/cug.conf.5): cugd and cug-tun take every setting
# from one, the command line wins, and an unknown key, a section, a key set
# twice or a bad value is refused with the file and line before anything runs.
. "$(dirname "$0")/lib.sh"

new_store
conf="$WORK/cugd.conf"
port=$(free_port)
cat >"$conf" <<EOF
# cugd.conf for this test
store = $STORE
listen = 127.0.0.1:$port
control-socket = $CUGD_SOCKET

session-hours = 2
max-startups = 10:50:20
EOF
# cugd_from ARGS...: cugd with these arguments only, until its control
# socket is there (fails with its log if it exits first).
cugd_from() {
  "$CUGD_BIN" "$@" 2>>"$WORK/cugd.log" &
  CUGD_PID=$!
  cleanup_pids+=("$CUGD_PID")
  until [ -S "$CUGD_SOCKET" ]; do
    kill -0 "$CUGD_PID" 2>/dev/null || fail "cugd $* did not start: $(tail -n 3 "$WORK/cugd.log")"
    pause_us 20000
  done
}
cugd_from --config "$conf"
contains "$(control 'cmd=status')" "errno=0"
ss -Htln | awk '{print $4}' | grep -qx "127.0.0.1:$port" || fail "cugd is not listening on the file's port $port"
cugd_stop
pass "cugd runs from its configuration file alone"

# The command line wins over the file.
other=$(free_port)
cugd_from --config "$conf" --listen "127.0.0.1:$other"
ss -Htln | awk '{print $4}' | grep -qx "127.0.0.1:$other" || fail "--listen did not win over the file"
cugd_stop
pass "a flag overrides the file"

# bad LINE TEXT MESSAGE: cugd refuses the file with TEXT at LINE (after two
# good lines), exits 78, names file and line, and starts nothing.
bad() {
  local line=$1 text=$2 message=$3
  printf 'store = %s\ncontrol-socket = %s\n%b\n' "$STORE" "$CUGD_SOCKET" "$text" >"$WORK/bad.conf"
  expect 78 "$CUGD_BIN" --config "$WORK/bad.conf"
  [ "$ERR" = "cugd: $WORK/bad.conf:$line: $message" ] || fail "for '$text': $ERR"
  [ ! -e "$CUGD_SOCKET" ] || fail "cugd made its socket despite a bad file"
}
bad 3 "lisen = 127.0.0.1:1" "unknown key 'lisen'"
bad 4 "\nsession_hours = 3" "unknown key 'session_hours'"
bad 3 "[cugd]\nlisten = 127.0.0.1:1" "sections are not used in this file ('cugd')"
bad 3 "store = /elsewhere" "'store' is set twice (first on line 1)"
bad 3 "session-hours = 1000" "--session-hours: Value 1000 not in range 0.010000 to 168.000000"
bad 5 "# comment\n\nlisten = nowhere" "--listen: 'nowhere' is not an ADDRESS:PORT endpoint"
bad 3 "max-startups = 30:50:20" "--max-startups: $(
  "$CUGD_BIN" --max-startups 30:50:20 2>&1 | sed -e 's/^cugd: --max-startups: //' -e 's/ (see cugd --help)$//')"
bad 3 "config = /etc/passwd" "'config' cannot be set in a configuration file"
bad 3 "version" "'version' cannot be set in a configuration file"
pass "an unknown key, a section, a repeated key or a bad value: exit 78 with the file and line"

# The files shipped (contrib/config), every setting uncommented, are taken
# as they are: they hold only keys the programs know, at values they accept.
contrib="$CUG_TESTS/../contrib/config"
sed -e 's/^#\([a-z]\)/\1/' -e "s|^store = .*|store = $STORE|" -e "s|^listen = .*|listen = 127.0.0.1:$(free_port)|" \
  -e "s|^control-socket = .*|control-socket = $CUGD_SOCKET|" "$contrib/cugd.conf" >"$WORK/shipped.conf"
[ "$(grep -c '^[a-z]' "$WORK/shipped.conf")" -ge 10 ] || fail "the shipped cugd.conf has too few settings"
cugd_from --config "$WORK/shipped.conf"
cugd_stop
sed -e 's/^#\([a-z]\)/\1/' -e '/^user = /d' -e "s|^socket-dir = .*|socket-dir = $WORK/run|" \
  "$contrib/cug0.conf" >"$WORK/shipped0.conf"
[ "$(grep -c '^[a-z]' "$WORK/shipped0.conf")" -ge 5 ] || fail "the shipped cug0.conf has too few settings"
mkdir -p "$WORK/run"
expect 69 "$CUG_BIN/cug-tun" --config "$WORK/shipped0.conf" show
contains "$ERR" "is not running"
pass "the shipped cugd.conf and cug0.conf, every setting uncommented, are accepted"

expect 66 "$CUGD_BIN" --config "$WORK/absent.conf"
[ "$ERR" = "cugd: $WORK/absent.conf was not readable (missing?)" ] || fail "missing file: $ERR"
# A value on the command line is still a usage error, not the file's.
expect 64 "$CUGD_BIN" --config "$conf" --session-hours 1000
pass "a missing --config file exits 66; a bad flag stays 64"

# cug-tun: its file names the interface's settings; `show` reads it too, so
# it finds an agent whose socket directory only the file names.
mkdir -p "$WORK/run"
printf 'interface = cugcf%s\nsocket-dir = %s\nmtu = 1400\n' "$$" "$WORK/run" >"$WORK/cug0.conf"
expect 69 "$CUG_BIN/cug-tun" --config "$WORK/cug0.conf" show
contains "$ERR" "$WORK/run/cugcf$$.sock"
printf 'mtu = 100\n' >"$WORK/tun.conf"
expect 78 "$CUG_BIN/cug-tun" --config "$WORK/tun.conf" show
[ "$ERR" = "cug-tun: $WORK/tun.conf:1: --mtu: Value 100 not in range 1280 to 9000" ] || fail "cug-tun: $ERR"
printf 'interface = a/b\n' >"$WORK/tun.conf"
expect 78 "$CUG_BIN/cug-tun" --config "$WORK/tun.conf" show
contains "$ERR" "$WORK/tun.conf:1: --interface: 'a/b' is not an interface name"
expect 64 "$CUG_BIN/cug-tun" --interface "$(printf 'x%.0s' $(seq 16))" show
pass "cug-tun reads its interface's file, with the same errors"
