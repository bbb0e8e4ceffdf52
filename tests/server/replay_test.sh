#!/usr/bin/env bash
# A recorded login replayed byte for byte fails: a proxy records what
# cug-login sent to cugd, then the recording is played to cugd on a new
# connection, step by step as it was sent. Nothing is registered and nothing
# logs in.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/pcsc.sh"
. "$(dirname "$0")/../support/netns.sh"
. "$(dirname "$0")/../support/terminals.sh"
trap 'pcsc_stop; cleanup; net_down' EXIT
net_up 1
CUGD_NS=$NET_SERVER

new_store
pcsc_start 1
expect 0 admin group add VPN1 --prefix 198.51.100.0/24
expect 0 with_password "passwd1-A" admin user add USER-A --password-fd 3
card_init A
card_insert A 0
expect 0 admin card enroll USER-A --reader "$(reader_name 0)" --new-pin-fd 3 3< <(echo 246800)
expect 0 admin member add VPN1 USER-A
cugd_start

# The recorder: forwards every connection, keeps the client's writes of the
# first one as length-prefixed chunks. It runs in the server's namespace.
PROXY_PORT=7444
ip netns exec "$NET_SERVER" python3 - "$PROXY_PORT" "$CUGD_PORT" "$WORK/recording" <<'PY' 2>>"$WORK/proxy.log" &
import socket, struct, sys, threading
listen_port, target_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", listen_port))
server.listen(8)
first = [True]
def pipe(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record:
                record.write(struct.pack(">I", len(data)) + data)
                record.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
while True:
    client, _ = server.accept()
    upstream = socket.create_connection(("127.0.0.1", target_port))
    record = open(path, "wb") if first[0] else None
    first[0] = False
    threading.Thread(target=pipe, args=(client, upstream, record), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client, None), daemon=True).start()
PY
cleanup_pids+=($!)
for _ in $(seq 100); do in_server ss -Htln | grep -q ":$PROXY_PORT " && break; sleep 0.02; done

tun_start 1
SERVER_AT=("" "192.0.2.1:$PROXY_PORT")
expect 0 login 1 0 246800 passwd1-A
[ -s "$WORK/recording" ] || fail "the proxy recorded nothing"
logins() { admin audit --json | json_get 'len([e for e in d if e["action"] == "session.login"])'; }
before=$(logins)
session_before=$(admin session list --json | json_get 'd[0]["since"]')
[ "$before" = 1 ] || fail "expected one login, audit shows $before"

# Replay: each recorded chunk after the server answered the previous one.
answer=$(in_term 1 python3 - "$CUGD_PORT" "$WORK/recording" <<'PY'
import socket, struct, sys
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
chunks, i = [], 0
while i < len(data):
    (n,) = struct.unpack(">I", data[i:i + 4])
    chunks.append(data[i + 4:i + 4 + n])
    i += 4 + n
s = socket.create_connection(("192.0.2.1", port))
s.settimeout(3)
got = 0
closed = False
for chunk in chunks:
    try:
        s.sendall(chunk)
        reply = s.recv(65536)
        got += len(reply)
        if not reply:
            closed = True
            break
    except socket.timeout:
        break
    except OSError:  # reset: cugd closed the connection
        closed = True
        break
print("closed" if closed else "open", len(chunks), got)
PY
)
echo "replay: $answer"
# cugd closed the connection (checked below): whatever the replay did is done.
[ "$(logins)" = "$before" ] || fail "the replayed login registered a session"
[ "$(admin session list --json | json_get 'd[0]["since"]')" = "$session_before" ] ||
  fail "the replay replaced the session"
case "$answer" in closed*) ;; *) fail "cugd kept the replayed connection open: $answer" ;; esac
pass "a recorded login replayed byte for byte fails; cugd closes the connection"
