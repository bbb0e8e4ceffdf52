#!/usr/bin/env bash
# Before login a stranger gets bounded resources: what one connection may
# send before it is cut off, how many connections wait for a login at once
# (in all and per source address), and an audit log that the noise of bogus
# logins and resumes never floods. A real user logs in all the while.
#
# cugd runs in a server namespace; the strangers come from its loopback
# (127.0.0.0/8 is all there, one source address each as needed), the real
# user from a terminal namespace over the bridge.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
FLOOD="python3 $CUG_TESTS/support/flood.py"

net_up 1
CUGD_NS=$NET_SERVER
SERVER_AT=("" "192.0.2.1:7443")
expect 0 admin init --server-name test-server --password-cost "$CHEAP" --audit-limit 100
pcsc_start 2
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
patent_users --in VPN1 A
cugd_start
tun_start 1
kib() { awk "/^$1:/ {print \$2}" "/proc/$CUGD_PID/status"; }
# Each phase measures its own peak: the kernel's high-water mark is reset to
# the current size (proc(5), clear_refs "5"), and that size is the base.
phase_base() { echo 5 > "/proc/$CUGD_PID/clear_refs"; base=$(kib VmRSS); }
# within KIB WHAT: the phase's growth is under KIB (not checked under the
# sanitizers, where a process's size says nothing of the program's).
within() {
  [ "${CUG_SANITIZED:-0}" = 1 ] && { echo "ok: (sanitizers: $2 not bounded)"; return 0; }
  [ "$grown" -lt "$1" ] || fail "$2 took cugd's memory up by $grown KiB"
}
status_of() { control 'cmd=status' | sed -n "s/^$1=//p"; }
until_status() {  # until_status KEY TEST: waits (a bound, not a measure) until KEY's value passes TEST
  for _ in $(seq 600); do
    # shellcheck disable=SC2086
    [ "$(status_of "$1")" $2 ] && return 0
    sleep 0.05
  done
  fail "cugd's $1 is $(status_of "$1"), not $2"
}
log_in_a() {
  local start=$EPOCHREALTIME
  expect 0 login 1 0 246800 passwd0-A
  echo "ok: a real login went through in $(( (${EPOCHREALTIME/./} - ${start/./}) / 1000 )) ms $1"
}
log_in_a "on a quiet cugd"
phase_base

# --- 30 connections that each send 10 MiB of one line ------------------------
out=$(in_server $FLOOD junk 127.0.0.1 7443 30 10 127.0.1.1-127.0.1.30)
echo "junk: $out"
contains "$out" "closed 30 of 30"
grown=$(( $(kib VmHWM) - base ))
within 20480 "30 connections of junk"
pass "30 connections of 10 MiB junk each: all cut off, cugd's peak memory +$grown KiB (from $base KiB)"

# --- 1,000 connections from 250 addresses, held without a byte ---------------
hold() {  # hold NAME N SOURCES [TLS]: connections held open in the background until release NAME
  mkfifo "$WORK/$1.in"
  TLS=${4:-0} ip netns exec "$NET_SERVER" python3 "$CUG_TESTS/support/flood.py" idle 127.0.0.1 7443 "$2" "$3" \
    < "$WORK/$1.in" > "$WORK/$1.out" 2>&1 &
  cleanup_pids+=($!)
  exec {feed}> "$WORK/$1.in"
  eval "FEED_$1=$feed"
  for _ in $(seq 1200); do [ -s "$WORK/$1.out" ] && break; sleep 0.05; done
  [ -s "$WORK/$1.out" ] || fail "$1: the connections were not made"
  echo "$1: $(cat "$WORK/$1.out")"
}
release() { eval "exec {FEED_$1}>&-"; }
refused_before=$(status_of refused_connections)
phase_base
hold wide 1000 127.1.0.1-127.1.0.250
[ "$(status_of startups)" -le 1024 ] || fail "cugd holds $(status_of startups) startups, over its cap of 1024"
grown=$(( $(kib VmHWM) - base ))
echo "ok: cugd holds $(status_of startups) connections that have not logged in ($(( $(status_of refused_connections) - refused_before )) refused), peak memory +$grown KiB"
within 8192 "1,000 idle connections"
release wide
until_status startups "-eq 0"
pass "1,000 idle connections from 250 addresses: at most 1,024 held, memory +$grown KiB"

# The same with their TLS handshakes done: each is a channel waiting for a
# hello until its deadline (10 s after the accept).
phase_base
hold handshaken 1000 127.2.0.1-127.2.0.250 1
grown=$(( $(kib VmHWM) - base ))
echo "ok: $(status_of startups) of them held after their handshakes, peak memory +$grown KiB"
within 40960 "1,000 connections after their handshakes"
release handshaken
until_status startups "-eq 0"
pass "1,000 connections after their TLS handshakes: memory +$grown KiB"

# --- one address with 1,000 connections: 16 get in, a real user logs in -----
refused_before=$(status_of refused_connections)
hold narrow 1000 127.3.0.1
[ "$(status_of startups)" -le 16 ] || fail "one address holds $(status_of startups) startups, over its cap of 16"
refused=$(( $(status_of refused_connections) - refused_before ))
[ "$refused" -ge 984 ] || fail "only $refused of one address's 1,000 connections were refused"
log_in_a "while one address holds 16 connections and had $refused refused"
release narrow
until_status startups "-eq 0"
pass "one address: 16 connections at once, the other $refused refused; the real login went through"

# --- bogus resumes never push real entries out of the audit log -------------
expect 0 admin audit --json
audit_before=$(printf '%s' "$OUT" | json_get 'len(d)')
last_before=$(printf '%s' "$OUT" | json_get 'd[-1]["seq"]')
out=$(in_server $FLOOD resumes 127.0.0.1 7443 120)
[ "$out" = "refused 120" ] || fail "bogus resumes: $out"
expect 0 admin audit --json
[ "$(printf '%s' "$OUT" | json_get 'd[-1]["seq"]')" = "$last_before" ] ||
  fail "bogus resumes wrote to the audit log: $(printf '%s' "$OUT" | json_get 'd[-3:]')"
[ "$(status_of refused_resumes)" = 120 ] || fail "cugd counted $(status_of refused_resumes) refused resumes"
cugd_stop   # what was gathered goes to the noise ring
expect 0 admin audit --noise --json
[ "$(printf '%s' "$OUT" | json_get 'sum(e["resumes_refused"] for e in d if e["source"] == "127.0.0.1")')" = 120 ] ||
  fail "the noise ring: $OUT"
[ "$(printf '%s' "$OUT" | json_get 'sum(e["connections_refused"] for e in d if e["source"] == "127.3.0.1")')" -ge 984 ] ||
  fail "the noise ring lacks the refused connections: $OUT"
expect 0 admin audit --json
[ "$(printf '%s' "$OUT" | json_get 'len(d)')" -ge "$audit_before" ] || fail "the audit log shrank"
contains "$(printf '%s' "$OUT" | json_get '" ".join(e["action"] for e in d)')" "session.login"
expect 0 admin check
pass "120 bogus resumes: no audit entry, counted in the noise ring; the real entries are all there"
