# A 3-member etcd 3.4 cluster of the test's own, with TLS everywhere (sourced
# by the tests that need one). The binaries come from Debian's etcd-server and
# etcd-client packages, downloaded by scripts/install-deps and extracted here,
# never installed. Each cluster lives in a network namespace the test made
# (tests/support/netns.sh), on that namespace's loopback, so two runs at once
# never share a port; its data is on tmpfs (/dev/shm), removed by etcd_down.
#
#   etcd_up NS [MEMBERS]  start MEMBERS (3) members in namespace NS; waits
#                         until every one is healthy. Sets:
#     ETCD_ENDPOINTS      https://127.0.0.1:2379,https://127.0.0.1:2479,...
#     ETCD_CA ETCD_CERT ETCD_KEY   the CA and a client certificate and key
#     ETCD_PIDS[i]        member i's PID (1-based)
#   etcd_ctl ARGS...      etcdctl in NS with the client certificate
#   etcd_leader           the number of the member that leads now
#   etcd_kill I [SIG]     signal member I (KILL); etcd_wait_leader waits for
#                         a leader among the others
#   etcd_start_member I   start member I again, from its data
#   etcd_wait_healthy     until every member is healthy
#   etcd_down             stop every member by PID, remove the data
#
# Needs fail() and $WORK from the sourcing test.
ETCD_NS=""
ETCD_DIR=""
ETCD_MEMBERS=0
ETCD_PIDS=()
ETCD_ENDPOINTS=""

etcd_binaries() {
  local deb
  mkdir -p "$ETCD_DIR/deb"
  for p in etcd-server etcd-client; do
    deb=$(ls /var/cache/apt/archives/${p}_*.deb 2>/dev/null | tail -1) ||
      fail "no $p package in /var/cache/apt/archives: run scripts/install-deps"
    dpkg-deb -x "$deb" "$ETCD_DIR/deb"
  done
  ETCD_BIN="$ETCD_DIR/deb/usr/bin/etcd"
  ETCDCTL_BIN="$ETCD_DIR/deb/usr/bin/etcdctl"
}

# A CA, one certificate for every member (client and peer side, for
# 127.0.0.1) and one client certificate ("cugd"), all P-256.
etcd_certificates() {
  local d="$ETCD_DIR/pki"
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca.key \
      -out ca.crt -days 2 -subj "/CN=cug test etcd CA" 2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout member.key \
      -out member.csr -subj "/CN=etcd member" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > member.ext
    openssl x509 -req -in member.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile member.ext -out member.crt 2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout client.key \
      -out client.csr -subj "/CN=cugd" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile client.ext -out client.crt 2>/dev/null
    chmod 600 ./*.key
  ) || fail "etcd: could not make the test certificates"
  ETCD_CA="$d/ca.crt" ETCD_CERT="$d/client.crt" ETCD_KEY="$d/client.key"
}

etcd_client_port() { echo $((2279 + 100 * $1)); }
etcd_peer_port() { echo $((2280 + 100 * $1)); }

etcd_ctl() {
  ip netns exec "$ETCD_NS" "$ETCDCTL_BIN" --endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_CA" \
    --cert "$ETCD_CERT" --key "$ETCD_KEY" --dial-timeout 2s --command-timeout 5s "$@"
}

etcd_start_member() {
  local i=$1 d="$ETCD_DIR/pki"
  ip netns exec "$ETCD_NS" env ETCD_UNSUPPORTED_ARCH= "$ETCD_BIN" --name "m$i" \
    --data-dir "$ETCD_DIR/m$i" \
    --listen-client-urls "https://127.0.0.1:$(etcd_client_port "$i")" \
    --advertise-client-urls "https://127.0.0.1:$(etcd_client_port "$i")" \
    --listen-peer-urls "https://127.0.0.1:$(etcd_peer_port "$i")" \
    --initial-advertise-peer-urls "https://127.0.0.1:$(etcd_peer_port "$i")" \
    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state new \
    --initial-cluster-token "cug-test-$$" \
    --client-cert-auth --trusted-ca-file "$d/ca.crt" --cert-file "$d/member.crt" \
    --key-file "$d/member.key" \
    --peer-client-cert-auth --peer-trusted-ca-file "$d/ca.crt" --peer-cert-file "$d/member.crt" \
    --peer-key-file "$d/member.key" \
    --heartbeat-interval 100 --election-timeout 1000 --log-level warn \
    > "$WORK/etcd-m$i.log" 2>&1 &
  ETCD_PIDS[$i]=$!
  cleanup_pids+=("$!")
}

etcd_up() {
  ETCD_NS=$1 ETCD_MEMBERS=${2:-3}
  ETCD_DIR=$(mktemp -d /dev/shm/cug-etcd.XXXXXX)
  etcd_binaries
  etcd_certificates
  local i urls=() peers=()
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    urls+=("https://127.0.0.1:$(etcd_client_port "$i")")
    peers+=("m$i=https://127.0.0.1:$(etcd_peer_port "$i")")
  done
  ETCD_ENDPOINTS=$(IFS=,; echo "${urls[*]}")
  ETCD_CLUSTER=$(IFS=,; echo "${peers[*]}")
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do etcd_start_member "$i"; done
  etcd_wait_healthy
}

# etcd_wait_healthy: until every member answers and a quorum has committed
# (etcdctl's endpoint health reads through Raft). Slow machines take seconds.
etcd_wait_healthy() {
  local i
  for _ in $(seq 600); do
    etcd_ctl endpoint health > "$WORK/etcd-health" 2>&1 && return 0
    for ((i = 1; i <= ETCD_MEMBERS; i++)); do
      kill -0 "${ETCD_PIDS[$i]}" 2>/dev/null || fail "etcd member $i exited: $(cat "$WORK/etcd-m$i.log")"
    done
    sleep 0.1
  done
  fail "etcd did not become healthy: $(cat "$WORK/etcd-health")"
}

# etcd_leader: the number of the member that leads, when every member still
# running names the same leader and it is one of them; fails otherwise.
etcd_leader() {
  local i out=()
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    kill -0 "${ETCD_PIDS[$i]}" 2>/dev/null || continue
    grep -q '^State:.*T' "/proc/${ETCD_PIDS[$i]}/status" 2>/dev/null && continue  # stopped
    out+=("$i=$(ip netns exec "$ETCD_NS" "$ETCDCTL_BIN" --endpoints "https://127.0.0.1:$(etcd_client_port "$i")" \
      --cacert "$ETCD_CA" --cert "$ETCD_CERT" --key "$ETCD_KEY" --dial-timeout 1s --command-timeout 2s \
      endpoint status --write-out=json 2>/dev/null)") || return 1
  done
  python3 -c '
import json, sys
members, leaders = {}, set()
for arg in sys.argv[1:]:
    i, text = arg.split("=", 1)
    s = json.loads(text)[0]["Status"]
    members[s["header"]["member_id"]] = i
    leaders.add(s["leader"])
if len(leaders) != 1 or next(iter(leaders)) not in members:
    sys.exit(1)
print(members[next(iter(leaders))])
' "${out[@]}"
}

etcd_kill() {
  kill "-${2:-KILL}" "${ETCD_PIDS[$1]}" 2>/dev/null || true
}

# etcd_wait_leader: until the members still running agree on a leader.
etcd_wait_leader() {
  local leader
  for _ in $(seq 600); do
    leader=$(etcd_leader 2>/dev/null || true)
    [ -n "$leader" ] && { echo "$leader"; return 0; }
    sleep 0.1
  done
  fail "etcd elected no leader"
}

etcd_down() {
  [ "$BASHPID" = "$$" ] || return 0  # not in a background subshell (see tests/admin/lib.sh)
  local i
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    [ -n "${ETCD_PIDS[$i]:-}" ] || continue
    kill -CONT "${ETCD_PIDS[$i]}" 2>/dev/null || true
    kill "${ETCD_PIDS[$i]}" 2>/dev/null || true
  done
  for ((i = 1; i <= ETCD_MEMBERS; i++)); do
    [ -n "${ETCD_PIDS[$i]:-}" ] && wait "${ETCD_PIDS[$i]}" 2>/dev/null || true
  done
  ETCD_MEMBERS=0
  [ -n "$ETCD_DIR" ] && rm -rf "$ETCD_DIR"
  ETCD_DIR=""
}
