# Network namespaces for one run (sourced by the end-to-end tests and the demo):
# a server namespace holding a bridge, and terminal namespaces, each joined to
# the bridge by a veth pair. Names carry the shell's PID and a random number,
# so two runs at once do not collide; net_down removes them all.
#
#   net_up TERMINALS   $NET_SERVER and $NET_ID-t1 ... $NET_ID-tN
#   in_server CMD...   run CMD in the server's namespace
#   in_term T CMD...   run CMD in terminal T's namespace
#   net_down           delete the namespaces (stop the processes in them first)
#
# A process started in the background for cleanup by PID must be started as
# `ip netns exec "$(term_ns T)" CMD &` (ip execs CMD, so $! is CMD's PID), not
# through in_term, which would put a subshell in between.
#
# Underlay addresses (IPv4 and IPv6 on every link):
#   server      192.0.2.1/24   fd00:0:2::1/64     (the bridge)
#   terminal T  192.0.2.(10+T) fd00:0:2::(10+T)   (eth0)
# Debian's own tools first: a version manager's python3 shim in front of
# /usr/bin costs 0.4 s a start, and the tests start python3 hundreds of times.
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
NET_ID=""
NET_SERVER=""
NET_TERMINALS=0

net_up() {
  local n=$1 t ns
  NET_ID="cug-$$-$RANDOM"
  NET_SERVER="$NET_ID-s"
  NET_TERMINALS=$n
  ip netns add "$NET_SERVER"
  ip -n "$NET_SERVER" link set lo up
  ip -n "$NET_SERVER" link add br0 type bridge
  ip -n "$NET_SERVER" addr add 192.0.2.1/24 dev br0
  ip -n "$NET_SERVER" addr add fd00:0:2::1/64 dev br0 nodad
  ip -n "$NET_SERVER" link set br0 up
  for ((t = 1; t <= n; t++)); do
    ns="$NET_ID-t$t"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add eth0 type veth peer name "t$t" netns "$NET_SERVER"
    ip -n "$NET_SERVER" link set "t$t" master br0 up
    ip -n "$ns" addr add "192.0.2.$((10 + t))/24" dev eth0
    ip -n "$ns" addr add "fd00:0:2::$((10 + t))/64" dev eth0 nodad
    ip -n "$ns" link set eth0 up
  done
}

in_server() { ip netns exec "$NET_SERVER" "$@"; }
in_term() { local t=$1; shift; ip netns exec "$NET_ID-t$t" "$@"; }
term_ns() { echo "$NET_ID-t$1"; }

net_down() {
  [ "$BASHPID" = "$$" ] || return 0  # not in a background subshell (see tests/admin/lib.sh)
  [ -n "$NET_ID" ] || return 0
  local t
  for ((t = 1; t <= NET_TERMINALS; t++)); do ip netns del "$NET_ID-t$t" 2>/dev/null || true; done
  ip netns del "$NET_SERVER" 2>/dev/null || true
  NET_ID=""
}
