# Shared by the command-line tests: a private store per run, assertions that
# name what failed, and cleanup by trap even when a test fails.
set -euo pipefail
# Debian's own tools first: a version manager's python3 shim in front of
# /usr/bin costs 0.4 s a start, and the tests start python3 hundreds of times.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

: "${CUG_BIN:?CUG_BIN must name the cmd directory of a build}"
ADMIN_BIN="$CUG_BIN/cug-admin"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cug-admin-test.XXXXXX")
STORE="$WORK/store"
CHEAP="m=8,t=1,p=1"   # Argon2id cost for tests: the hashing is tested elsewhere
# cug-admin tells this run's cugd (if one runs) of its changes, nobody else's.
export CUG_CUGD_SOCKET="$WORK/cugd.sock"
cleanup_pids=()
cleanup() {
  # A background subshell killed before it exec'd its command runs the EXIT
  # trap too: only the test's own shell may tear the test down.
  [ "$BASHPID" = "$$" ] || return 0
  local pid
  exec 2>/dev/null  # the shell's own notes on the jobs it reaps
  for pid in "${cleanup_pids[@]}"; do kill "$pid" || true; done
  for _ in $(seq 20); do
    local alive=0
    for pid in "${cleanup_pids[@]}"; do kill -0 "$pid" && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.05
  done
  for pid in "${cleanup_pids[@]}"; do kill -9 "$pid" || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# pause_us MICROSECONDS: a sleep without a fork (a forked `sleep` takes about
# as long as a release build's write, and one in a process substitution would
# outlive the test holding ctest's output open): a read with a timeout on a
# FIFO nobody writes, opened for the read only (a descriptor kept open would
# be inherited by every program the test runs).
mkfifo "$WORK/.never"
pause_us() {
  read -r -t "$(printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)))" <> "$WORK/.never" || true
}
pass() { echo "ok: $*"; }

admin() { "$ADMIN_BIN" --store "$STORE" "$@"; }

# expect STATUS CMD...: runs CMD, wants exit STATUS and, on failure, exactly one
# line on stderr. Leaves stdout in $OUT and stderr in $ERR.
expect() {
  local want=$1; shift
  local status=0
  OUT=$("$@" 2>"$WORK/stderr") || status=$?
  ERR=$(cat "$WORK/stderr")
  [ "$status" -eq "$want" ] || fail "'$*' exited $status, wanted $want (stderr: $ERR)"
  if [ "$want" -ne 0 ]; then
    [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] && [ -n "$ERR" ] ||
      fail "'$*' should print one line on stderr, printed: $ERR"
    [[ "$ERR" =~ ^(cug-admin|cugd|cug-login|cug-logout|cug-tun):\  ]] ||
      fail "'$*' stderr does not start with the program name: $ERR"
  fi
}

# contains HAYSTACK NEEDLE
contains() { case "$1" in *"$2"*) ;; *) fail "expected '$2' in: $1" ;; esac; }

# A password on file descriptor 3 for the command that follows.
with_password() { local pw=$1; shift; "$@" 3< <(printf '%s\n' "$pw"); }

# Field of a JSON document on stdin: json_get 'expression on d'
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

new_store() { expect 0 admin init --server-name test-server --password-cost "$CHEAP"; }
