#!/usr/bin/env bash
# The etcd cluster the store's tests run on (tests/support/etcd.sh): three
# members with TLS everywhere, a client without a certificate refused, and a
# new leader that takes writes within seconds of the old one's death. The
# store's etcd client (test-etcd) runs against it with every member up, and
# again with the first one dead.
. "$(dirname "$0")/../admin/lib.sh"
. "$CUG_TESTS/support/netns.sh"
. "$CUG_TESTS/support/etcd.sh"
trap 'etcd_down; cleanup; net_down' EXIT

net_up 0
etcd_up "$NET_SERVER"
etcd_ctl put /cug-test/a one > /dev/null || fail "put: $(etcd_ctl put /cug-test/a one 2>&1)"
[ "$(etcd_ctl get --print-value-only /cug-test/a)" = one ] || fail "get did not read the put"
members=$(etcd_ctl member list | wc -l)
[ "$members" = 3 ] || fail "member list: $members members"
pass "three members, healthy, over TLS with client certificates"

# Without a client certificate the members refuse (--client-cert-auth).
status=0
ip netns exec "$NET_SERVER" "$ETCDCTL_BIN" --endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_CA" \
  --dial-timeout 2s --command-timeout 3s get /cug-test/a > "$WORK/nocert" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "a client without a certificate read the store: $(cat "$WORK/nocert")"
# And plain HTTP gets nothing either.
ip netns exec "$NET_SERVER" "$ETCDCTL_BIN" --endpoints "http://127.0.0.1:2379" \
  --dial-timeout 2s --command-timeout 3s get /cug-test/a > "$WORK/plain" 2>&1 &&
  fail "plain HTTP read the store: $(cat "$WORK/plain")"
pass "no client certificate, or no TLS: refused"

etcd_client_tests() {
  ip netns exec "$NET_SERVER" env CUG_ETCD_ENDPOINTS="$ETCD_ENDPOINTS" CUG_ETCD_CA="$ETCD_CA" \
    CUG_ETCD_CERT="$ETCD_CERT" CUG_ETCD_KEY="$ETCD_KEY" "$CUG_ETCD_TEST" > "$WORK/client.log" 2>&1 ||
    fail "test-etcd ($1): $(tail -n 40 "$WORK/client.log")"
}
: "${CUG_ETCD_TEST:?CUG_ETCD_TEST must name the test-etcd program}"
etcd_client_tests "every member up"
pass "the store's etcd client: ranges, revisions, compare-and-swap, limits, leases, failover"

# A watch on member 3 when member 3 is killed: it goes on at member 1.
ip netns exec "$NET_SERVER" env CUG_ETCD_ENDPOINTS="https://127.0.0.1:$(etcd_client_port 3),https://127.0.0.1:$(etcd_client_port 1)" \
  CUG_ETCD_CA="$ETCD_CA" CUG_ETCD_CERT="$ETCD_CERT" CUG_ETCD_KEY="$ETCD_KEY" CUG_ETCD_VICTIM_PID="${ETCD_PIDS[3]}" \
  "$CUG_ETCD_TEST" -tc="*member dies*" > "$WORK/victim.log" 2>&1 || fail "test-etcd (a watch's member killed): $(tail -n 40 "$WORK/victim.log")"
wait "${ETCD_PIDS[3]}" 2>/dev/null || true
etcd_start_member 3
etcd_wait_healthy
pass "a watch whose member was killed went on at the next, nothing lost or repeated"

# A watch on member 2 when member 2 is stopped (SIGSTOP: its connections stay
# open and silent): it notices and goes on at member 1.
ip netns exec "$NET_SERVER" env CUG_ETCD_ENDPOINTS="https://127.0.0.1:$(etcd_client_port 2),https://127.0.0.1:$(etcd_client_port 1)" \
  CUG_ETCD_CA="$ETCD_CA" CUG_ETCD_CERT="$ETCD_CERT" CUG_ETCD_KEY="$ETCD_KEY" CUG_ETCD_STOP_PID="${ETCD_PIDS[2]}" \
  "$CUG_ETCD_TEST" -tc="*member is stopped*" > "$WORK/stopped.log" 2>&1 ||
  { etcd_kill 2 CONT; fail "test-etcd (a watch's member stopped): $(tail -n 40 "$WORK/stopped.log")"; }
etcd_kill 2 CONT
etcd_wait_healthy
pass "a watch whose member was stopped went on at the next, nothing lost or repeated"

leader=$(etcd_wait_leader)
etcd_kill "$leader"
wait "${ETCD_PIDS[$leader]}" 2>/dev/null || true
next=$(etcd_wait_leader)
[ "$next" != "$leader" ] || fail "member $leader is dead and still leads"
for _ in $(seq 100); do etcd_ctl put /cug-test/b two > /dev/null 2>&1 && break; sleep 0.1; done
[ "$(etcd_ctl get --print-value-only /cug-test/b 2>/dev/null)" = two ] ||
  fail "no write after the leader died: $(etcd_ctl put /cug-test/b two 2>&1)"
pass "the leader killed: member $next leads, and the two left take writes"

# The client again, with member 1 dead (the first endpoint it tries).
if [ "$leader" != 1 ]; then
  etcd_start_member "$leader"  # back from its data, so that two are left after member 1
  etcd_wait_healthy
  etcd_kill 1
  wait "${ETCD_PIDS[1]}" 2>/dev/null || true
fi
etcd_client_tests "member 1 dead"
pass "the store's etcd client passes member 1 by when it is dead"
