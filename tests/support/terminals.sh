# Terminals for the end-to-end tests and the demo (sourced after netns.sh and
# pcsc.sh): one cug-tun per terminal namespace, logins with virtual cards, and
# questions to the agents. Needs $CUG_BIN, $WORK, net_up done, and $SERVER_AT
# (an array: the cugd address terminal T uses, "HOST:PORT", index T).
TUN="$CUG_BIN/cug-tun"
declare -a TUN_PID=()
# Words put before cug-tun by tun_start (with_resolved.sh DIR), if any.
declare -a TUN_WRAP=()
declare -a SERVER_AT=()

# tun_start T [options]: cug-tun in terminal T's namespace, its socket in $WORK/tT.
# It leaves the system's resolver configuration alone unless the options say
# otherwise (--dns-config): a test never changes the host's.
tun_start() {
  local t=$1; shift
  mkdir -p "$WORK/t$t"
  case " $* " in *" --dns-config"*) ;; *) set -- --dns-config off "$@" ;; esac
  # Not through in_term: a function in the background would be a subshell,
  # and its PID not cug-tun's.
  ip netns exec "$(term_ns "$t")" "${TUN_WRAP[@]}" "$TUN" --socket-dir "$WORK/t$t" "$@" 2>>"$WORK/tun$t.log" &
  TUN_PID[$t]=$!
  cleanup_pids+=($!)
  for _ in $(seq 200); do [ -S "$WORK/t$t/cug0.sock" ] && return 0; sleep 0.02; done
  fail "cug-tun $t did not start: $(cat "$WORK/tun$t.log")"
}
tun_stop() {
  local t=$1
  [ -n "${TUN_PID[$t]:-}" ] || return 0
  kill "${TUN_PID[$t]}" 2>/dev/null || true
  wait "${TUN_PID[$t]}" 2>/dev/null || true
  TUN_PID[$t]=""
}

# login T READER PIN PASSWORD [options]: cug-login at terminal T.
login() {
  local t=$1 r=$2 pin=$3 pw=$4; shift 4
  in_term "$t" "$CUG_BIN/cug-login" --server "${SERVER_AT[$t]}" --reader "$(reader_name "$r")" \
    --socket-dir "$WORK/t$t" --pin-fd 3 --password-fd 4 "$@" 3< <(echo "$pin") 4< <(echo "$pw")
}

# show T EXPR: a Python expression over terminal T's `cug-tun show --json` (as d).
show() { "$TUN" --socket-dir "$WORK/t$1" show --json | json_get "$2"; }
# until_shows T EXPR WANT: waits until show T EXPR prints WANT (up to 30 s: a
# bound for a busy machine, not a measure).
until_shows() {
  local got=""
  for _ in $(seq 600); do
    got=$(show "$1" "$2")
    [ "$got" = "$3" ] && return 0
    sleep 0.05
  done
  cat "$WORK/tun$1.log" >&2; fail "terminal $1: $2 is '$got', not '$3'"
}
peers_of() { show "$1" '" ".join(sorted(p["user"] + "@" + p["group"] for p in d["peers"]))'; }
# drops T REASON: terminal T's count of packets dropped for REASON.
drops() { show "$1" "d[\"drops\"][\"$2\"]"; }
