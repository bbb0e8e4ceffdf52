#!/usr/bin/env bash
# pam_cug.so through the real libpam (pam_start_confdir, a configuration
# directory of the test's own), with the real pcscd and virtual cards, cugd
# in a server namespace and a cug-tun per terminal namespace: each refusal
# with its PAM code and one syslog line, registering nothing; a login a later
# module refuses ended at cugd at once; the map file; use_first_pass and
# try_first_pass; close_session; cug-logout --wait when the card is pulled;
# and the patent's drawings 1, 9 and 2 done entirely through PAM logins.
. "$(dirname "$0")/../server/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
. "$(dirname "$0")/lib.sh"
trap '[ $? -eq 0 ] || cat "$SYSLOG" >&2 2>/dev/null; pcsc_stop; cleanup; net_down' EXIT
[ -n "${CUG_PAM_RUN:-}" ] && [ -f "${CUG_PAM_MODULE:-}" ] || fail "CUG_PAM_RUN and CUG_PAM_MODULE must be set"

net_up 4
CUGD_NS=$NET_SERVER
new_store
pcsc_start 6  # A-D in readers 0-3, E in 4, reader 5 empty
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
expect 0 admin group add VPN2 --prefix fd00:2::/64
patent_users A B C D E
for m in "VPN1 USER-A" "VPN1 USER-B" "VPN2 USER-C" "VPN2 USER-D" "VPN1 USER-E"; do expect 0 admin member add $m; done
A=198.51.100.1; B=198.51.100.2; C=fd00:2::1; D=fd00:2::2
cugd_start
SERVER_AT=("" "192.0.2.1:7443" "[fd00:0:2::1]:7443" "192.0.2.1:7443" "[fd00:0:2::1]:7443")
tun_start 1; tun_start 2; tun_start 3; tun_start 4
syslog_start
for t in 1 2 3 4; do terminal_service "$t"; done
ARGS1="server=${SERVER_AT[1]} socket_dir=$WORK/t1"

# --- refusals: each its own PAM code and one syslog line; nothing registered
pam_expect 7 1 t1 USER-A -a PIN=999999 -a Password=passwd0-A auth
contains "$OUT" "auth PAM_AUTH_ERR"
contains "$OUT" "error: cug: verifying the PIN: wrong PIN (2 tries left)"
until_syslog "refused USER-A: verifying the PIN: wrong PIN (2 tries left) (Authentication failure)" 1
pam_expect 7 1 t1 USER-A -a PIN=246800 -a Password=wrong-password auth
contains "$OUT" "error: cug: wrong password"
until_syslog "refused USER-A: wrong password (Authentication failure)" 1
pam_expect 7 1 t1 USER-B -a PIN=246800 -a Password=passwd0-A auth
contains "$OUT" "is USER-A's, who may not log in as USER-B"
case "$OUT" in *prompt:*) fail "a card of someone else's was asked for its PIN: $OUT" ;; esac
until_syslog "refused USER-B: the card in $(reader_name 0) is USER-A's" 1
[ "$(wc -l < "$SYSLOG")" = 3 ] || fail "three refusals, not three syslog lines: $(cat "$SYSLOG")"
[ "$(registered)" = "" ] || fail "refused logins registered: $(registered)"
pass "wrong PIN and wrong password: PAM_AUTH_ERR; a card that is not the PAM user's: PAM_AUTH_ERR before the PIN"

pam_service nocard "auth required $CUG_PAM_MODULE $ARGS1 [reader=$(reader_name 5)]"
pam_expect 9 1 nocard USER-A -a PIN=246800 -a Password=passwd0-A auth
contains "$OUT" "auth PAM_AUTHINFO_UNAVAIL"
contains "$OUT" "no card in reader"
until_syslog "refused USER-A: connecting to the card: no card in reader" 1
# no_card=ignore: the card is one way in; the next module (a password) another.
pam_service ignore "auth sufficient $CUG_PAM_MODULE $ARGS1 [reader=$(reader_name 5)] no_card=ignore" \
  "auth required $CUG_PAM_FIRST_PASS"
pam_expect 0 1 ignore USER-A -a "Password: =anything" auth
[ "$OUT" = "$(printf 'prompt: Password: \nauth PAM_SUCCESS')" ] || fail "no_card=ignore: $OUT"
pam_service notun "auth required $CUG_PAM_MODULE server=${SERVER_AT[1]} socket_dir=$WORK/none [reader=$(reader_name 0)]"
pam_expect 9 1 notun USER-A -a PIN=246800 -a Password=passwd0-A auth
contains "$OUT" "cug-tun is not running"
case "$OUT" in *prompt:*) fail "asked for secrets with no cug-tun to take the session: $OUT" ;; esac
pam_service gone "auth required $CUG_PAM_MODULE server=192.0.2.1:7444 socket_dir=$WORK/t1 [reader=$(reader_name 0)] timeout=5"
pam_expect 9 1 gone USER-A -a PIN=246800 -a Password=passwd0-A auth
contains "$OUT" "cannot reach cugd at 192.0.2.1:7444"
until_syslog "cannot reach cugd at 192.0.2.1:7444" 1
pam_service typo "auth required $CUG_PAM_MODULE $ARGS1 no_crad=ignore"
pam_expect 3 1 typo USER-A -a PIN=246800 -a Password=passwd0-A auth
contains "$OUT" "auth PAM_SERVICE_ERR"
until_syslog "bad argument in the PAM configuration: unknown argument 'no_crad=ignore'" 1
expect 0 admin user disable USER-C
pam_expect 6 3 t3 USER-C -a PIN=246802 -a Password=passwd2-C auth
contains "$OUT" "auth PAM_PERM_DENIED"
until_syslog "refused USER-C: the user is disabled (Permission denied)" 1
expect 0 admin user enable USER-C
# E (at terminal 2): wrong passwords until cugd locks E out for 4 s or more
# (1 s after the fourth, then 2, 4 ...), then even the right one is refused.
pam_service e "auth required $CUG_PAM_MODULE server=${SERVER_AT[2]} socket_dir=$WORK/t2 [reader=$(reader_name 4)]"
locked=""
for _ in $(seq 200); do
  status=0
  OUT=$(in_pam 2 e USER-E -a PIN=246804 -a Password=wrong auth 2>&1) || status=$?
  case "$status:$OUT" in
    7:*"error: cug: wrong password"*) ;;
    11:*"try again in "[4-9]" s"* | 11:*"try again in "[1-9][0-9]" s"*) locked=yes; break ;;
    11:*"locked out"*) ;;
    *) fail "E's wrong password: $status $OUT" ;;
  esac
done
[ -n "$locked" ] || fail "E was never locked out for 4 s: $OUT"
pam_expect 11 2 e USER-E -a PIN=246804 -a Password=passwd4-E auth
contains "$OUT" "auth PAM_MAXTRIES"
contains "$OUT" "locked out after too many wrong passwords"
until_syslog "refused USER-E: locked out after too many wrong passwords" 1
[ "$(registered)" = "" ] || fail "refused logins registered: $(registered)"
pass "no card, no cug-tun, cugd unreachable: PAM_AUTHINFO_UNAVAIL; no_card=ignore falls through; a typo: PAM_SERVICE_ERR; disabled: PAM_PERM_DENIED; locked out: PAM_MAXTRIES"

# A later module refuses: the login cugd made is ended when the handle ends.
pam_service deny "auth required $CUG_PAM_MODULE $ARGS1 [reader=$(reader_name 0)]" "auth required pam_deny.so"
pam_expect 7 1 deny USER-A -a PIN=246800 -a Password=passwd0-A auth
until_syslog "USER-A's login was not taken up by a session: ended at cugd" 1
[ "$(registered)" = "" ] || fail "a login refused by a later module stayed: $(registered)"
contains "$(admin audit --json | json_get '" ".join(e["action"] + ":" + e["subject"] + ":" + e["detail"] for e in d)')" "session.logout:USER-A:'pam_end' from"
pass "a later module's refusal leaves no session: pam_end ended it at cugd"

# --- the map file; close_session; use_first_pass, try_first_pass ------------
printf '# card user   local users\nUSER-B  bob robert   # two names\n' > "$WORK/users.map"
chmod 644 "$WORK/users.map"
pam_service bob "auth required $CUG_PAM_MODULE server=${SERVER_AT[2]} socket_dir=$WORK/t2 [reader=$(reader_name 1)] map=$WORK/users.map" \
  "account required pam_permit.so" "session required $CUG_PAM_MODULE socket_dir=$WORK/t2"
pam_expect 7 2 bob USER-B -a PIN=246801 -a Password=passwd1-B auth
contains "$OUT" "is USER-B's, who may not log in as USER-B"
session_open 2 bob robert 246801 passwd1-B
[ "$(show 2 'd["user"]')" = USER-B ] || fail "robert's login: $(show 2 'd')"
[ "$(registered)" = "USER-B" ] || fail "robert's login at cugd: $(registered)"
grep -qx "prompt: PIN for USER-B's card: " "$WORK/pam2.out" && grep -qx "prompt: Password for USER-B: " "$WORK/pam2.out" ||
  fail "the prompts: $(cat "$WORK/pam2.out")"
session_close 2
[ "$(registered)" = "" ] || fail "close_session left $(registered) at cugd"
until_shows 2 'd["state"]' idle
until_syslog "USER-B's session logged out" 1
chmod 664 "$WORK/users.map"
pam_expect 3 2 bob robert -a PIN=246801 -a Password=passwd1-B auth
until_syslog "must be owned by root and writable by nobody else" 1
pass "map file: USER-B's card logs in robert, not USER-B; close_session ends the session at cugd; a map others can write: PAM_SERVICE_ERR"

pam_service first "auth required $CUG_PAM_FIRST_PASS" \
  "auth required $CUG_PAM_MODULE server=${SERVER_AT[2]} socket_dir=$WORK/t2 [reader=$(reader_name 1)] use_first_pass" \
  "session required $CUG_PAM_MODULE socket_dir=$WORK/t2"
pam_expect 0 2 first USER-B -a "Password: =passwd1-B" -a PIN=246801 auth open close
[ "$OUT" = "$(printf "prompt: Password: \nprompt: PIN for USER-B's card: \nauth PAM_SUCCESS\nopen PAM_SUCCESS\nclose PAM_SUCCESS")" ] ||
  fail "use_first_pass: $OUT"
sed -i 's/use_first_pass/try_first_pass/' "$PAMD/first"
pam_expect 0 2 first USER-B -a "Password: =not-it" -a "Password for=passwd1-B" -a PIN=246801 auth open close
[ "$OUT" = "$(printf "prompt: Password: \nprompt: PIN for USER-B's card: \nprompt: Password for USER-B: \nauth PAM_SUCCESS\nopen PAM_SUCCESS\nclose PAM_SUCCESS")" ] ||
  fail "try_first_pass: $OUT"
# Neither: the cug password is asked for, and the earlier module's stays in
# PAM_AUTHTOK for the modules after (as pam_unix's does).
pam_service fresh "auth required $CUG_PAM_FIRST_PASS" \
  "auth required $CUG_PAM_MODULE server=${SERVER_AT[2]} socket_dir=$WORK/t2 [reader=$(reader_name 1)]" \
  "auth required $CUG_PAM_FIRST_PASS show" \
  "session required $CUG_PAM_MODULE socket_dir=$WORK/t2"
pam_expect 0 2 fresh USER-B -a "Password: =unix-password" -a PIN=246801 -a "Password for=passwd1-B" \
  auth open close
[ "$OUT" = "$(printf "prompt: Password: \nprompt: PIN for USER-B's card: \nprompt: Password for USER-B: \ninfo: PAM_AUTHTOK is unix-password\nauth PAM_SUCCESS\nopen PAM_SUCCESS\nclose PAM_SUCCESS")" ] ||
  fail "without use_first_pass: $OUT"
pam_service alone "auth required $CUG_PAM_MODULE server=${SERVER_AT[2]} socket_dir=$WORK/t2 [reader=$(reader_name 1)]" \
  "auth required $CUG_PAM_FIRST_PASS show" \
  "session required $CUG_PAM_MODULE socket_dir=$WORK/t2"
pam_expect 0 2 alone USER-B -a PIN=246801 -a "Password for=passwd1-B" auth open close
contains "$OUT" "info: PAM_AUTHTOK is passwd1-B"
[ "$(registered)" = "" ] || fail "after use_first_pass and try_first_pass: $(registered)"
pass "use_first_pass takes the earlier module's password; try_first_pass asks again when cugd refuses it; neither asks, and keeps the earlier one in PAM_AUTHTOK"

# --- drawing 1 through PAM: A at terminal 1, B at 2, C at 3, D at 4 ---------
session_open 1 t1 USER-A 246800 passwd0-A
session_open 2 t2 USER-B 246801 passwd1-B
session_open 3 t3 USER-C 246802 passwd2-C
session_open 4 t4 USER-D 246803 passwd3-D
[ "$(registered)" = "USER-A USER-B USER-C USER-D" ] || fail "drawing 1: $(registered)"
until_shows 1 '[p["user"] for p in d["peers"]]' "['USER-B']"
until_shows 3 '[p["user"] for p in d["peers"]]' "['USER-D']"
pings() { in_term "$1" ping -c "${3:-3}" -i 0.2 -W 1 "$2" >"$WORK/ping.out" 2>&1; }
pings 1 "$B" || fail "A cannot ping B: $(cat "$WORK/ping.out")"
pings 2 "$A" || fail "B cannot ping A: $(cat "$WORK/ping.out")"
pings 3 "$D" || fail "C cannot ping D: $(cat "$WORK/ping.out")"
pings 4 "$C" || fail "D cannot ping C: $(cat "$WORK/ping.out")"
pings 1 "$C" 1 && fail "A reached C"
pass "drawing 1 by PAM logins: A and B reach each other in VPN1, C and D in VPN2, and not across"

# --- drawing 9: A and C pull their cards; cug-logout --wait logs them out ---
in_term 1 "$CUG_BIN/cug-logout" --wait --socket-dir "$WORK/t1" > "$WORK/logout1" 2>&1 &
w1=$!; cleanup_pids+=("$w1")
in_term 3 "$CUG_BIN/cug-logout" --wait --socket-dir "$WORK/t3" > "$WORK/logout3" 2>&1 &
w3=$!; cleanup_pids+=("$w3")
card_pull A; card_pull C
wait "$w1" || fail "cug-logout --wait at terminal 1: $(cat "$WORK/logout1")"
wait "$w3" || fail "cug-logout --wait at terminal 3: $(cat "$WORK/logout3")"
[ "$(registered)" = "USER-B USER-D" ] || fail "drawing 9: $(registered)"
until_shows 2 'len(d["peers"])' 0
session_close 1; session_close 3
until_syslog "USER-A's session had ended already" 1
until_syslog "USER-C's session had ended already" 1
pass "drawing 9: pulling the cards logged A and C out (cug-logout --wait); their PAM sessions then close cleanly"

# --- drawing 2: A at terminal 3, C at terminal 1, by PAM logins -------------
card_insert A 2; card_insert C 0
session_open 3 t3 USER-A 246800 passwd0-A
session_open 1 t1 USER-C 246802 passwd2-C
until_shows 2 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-A', '192.0.2.13:51820')]"
until_shows 4 '[(p["user"], p.get("endpoint")) for p in d["peers"]]' "[('USER-C', '192.0.2.11:51820')]"
expect 0 admin session list --json
table=$(printf '%s' "$OUT" | json_get '"; ".join(r["user"] + " " + r["overlay"] + " " + r["terminal"] for r in sorted(d, key=lambda r: r["user"]))')
[ "$table" = "USER-A $A 192.0.2.13:51820; USER-B $B [fd00:0:2::12]:51820; USER-C $C 192.0.2.11:51820; USER-D $D [fd00:0:2::14]:51820" ] ||
  fail "drawing 2's table: $table"
pings 3 "$B" || fail "A (terminal 3) cannot ping B: $(cat "$WORK/ping.out")"
pings 2 "$A" || fail "B cannot ping A at terminal 3: $(cat "$WORK/ping.out")"
pings 1 "$D" || fail "C (terminal 1) cannot ping D: $(cat "$WORK/ping.out")"
pings 4 "$C" || fail "D cannot ping C at terminal 1: $(cat "$WORK/ping.out")"
pings 3 "$D" 1 && fail "A reached D after the swap"
pass "drawing 2 by PAM logins: A at terminal 3 and C at terminal 1 keep their addresses and reach B and D"

# A newer login at terminal 3 (its application never closes it) replaces A's
# first one there; closing that first PAM session leaves the newer one be.
pam_expect 0 3 t3 USER-A -a PIN=246800 -a Password=passwd0-A auth open
session_close 3
until_syslog "USER-A's session had ended already" 2
[ "$(registered)" = "USER-A USER-B USER-C USER-D" ] || fail "closing a replaced PAM session: $(registered)"
[ "$(show 3 'd["state"]')" = connected ] || fail "closing a replaced PAM session ended the newer one"
pings 2 "$A" || fail "B cannot ping A after A's older PAM session closed: $(cat "$WORK/ping.out")"
pass "closing a PAM session that a newer login replaced leaves the newer one"

for t in 1 2 4; do session_close "$t"; done
in_term 3 "$CUG_BIN/cug-logout" --socket-dir "$WORK/t3" > "$WORK/logout3" 2>&1 ||
  fail "cug-logout at terminal 3: $(cat "$WORK/logout3")"
[ "$(registered)" = "" ] || fail "closing every PAM session left $(registered)"
# No secret reached the syslog, whatever happened above.
for secret in 246800 246801 246802 246803 246804 999999 passwd0-A passwd1-B passwd2-C passwd3-D passwd4-E wrong-password not-it; do
  grep -qF -- "$secret" "$SYSLOG" && fail "the syslog holds '$secret'"
done
refusals=$(grep -cF 'pam_cug(' "$SYSLOG" | tr -d ' ')
echo "ok: $refusals syslog lines of pam_cug's, none with a PIN or password"
pass "every PAM session closed: nothing left at cugd"
