#!/usr/bin/env python3
"""Strangers at cugd's door, for the tests (TLS without checking the server):

  junk HOST PORT N MIB SOURCES
                              N TLS connections at once (from SOURCES, as for
                              idle), each sending MIB MiB of one never-ending
                              line; prints how many cugd closed
  idle HOST PORT N SOURCES    N connections from the addresses SOURCES names
                              (FIRST-LAST of 127.x.y.z, or one address), held
                              open without a byte; with TLS=1 in the
                              environment each finishes its handshake first.
                              Prints "opened A refused R", then holds them
                              until stdin ends
  resumes HOST PORT N         N resumes with made-up sessions and proofs, one
                              connection each; prints how many were refused
  local PATH N [DRIP]         N connections to a local socket, held open
                              without a byte (with DRIP=1 in the environment,
                              each sends "cmd=status\n" one byte every 0.5 s);
                              prints "opened N", then holds them until stdin
                              ends
"""
import base64
import ipaddress
import os
import resource
import socket
import ssl
import sys


def context():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    return c


def connect(host, port, source=None, tls=True, timeout=30):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, int(port)))
    return context().wrap_socket(s) if tls else s


def junk(host, port, n, mib, spec):
    total = int(mib) << 20
    addrs = sources(spec)
    conns = [connect(host, port, addrs[i % len(addrs)]) for i in range(int(n))]
    sent = [0] * len(conns)
    closed = [False] * len(conns)
    block = b"a" * 65536
    progress = True
    while progress:
        progress = False
        for i, c in enumerate(conns):
            if closed[i] or sent[i] >= total:
                continue
            try:
                c.sendall(block)
                sent[i] += len(block)
                progress = True
            except OSError:
                closed[i] = True
    # What was sent may still be in the kernel's buffers: ask whether each is closed.
    for i, c in enumerate(conns):
        if closed[i]:
            continue
        try:
            c.settimeout(30)
            closed[i] = c.recv(1) == b""
        except (OSError, ssl.SSLError):
            closed[i] = True
    print(f"closed {sum(closed)} of {len(conns)}")


def sources(spec):
    if "-" not in spec:
        return [spec]
    first, last = (int(ipaddress.ip_address(a)) for a in spec.split("-"))
    return [str(ipaddress.ip_address(a)) for a in range(first, last + 1)]


def idle(host, port, n, spec):
    tls = os.environ.get("TLS") == "1"
    addrs = sources(spec)
    held, refused = [], 0
    for i in range(int(n)):
        try:
            c = connect(host, port, addrs[i % len(addrs)], tls=False, timeout=10)
            if tls:
                c = context().wrap_socket(c)
            else:
                # Refused connections are closed by cugd at once: tell them apart.
                c.setblocking(False)
                try:
                    if c.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                c.setblocking(True)
            held.append(c)
        except (OSError, ssl.SSLError):
            refused += 1
    print(f"opened {len(held)} refused {refused}", flush=True)
    sys.stdin.read()


def resumes(host, port, n):
    refused = 0
    for _ in range(int(n)):
        c = connect(host, port)
        made_up = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=")
        proof = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=")
        c.sendall(b"type=resume\nsession=" + made_up + b"\nproof=" + proof + b"\n\n")
        answer = b""
        try:
            while not answer.endswith(b"\n\n"):
                chunk = c.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (OSError, ssl.SSLError):
            pass
        refused += answer.startswith(b"type=refused")
        c.close()
    print(f"refused {refused}")


def local(path, n):
    import selectors
    import threading
    held = []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        held.append(s)
    print(f"opened {len(held)}", flush=True)
    if os.environ.get("DRIP") == "1":
        stop = threading.Event()

        def drip():
            text, i = b"cmd=status\n", 0
            while not stop.wait(0.5):
                for s in held:
                    try:
                        s.send(text[i % len(text):i % len(text) + 1])
                    except OSError:
                        pass
                i += 1
        threading.Thread(target=drip, daemon=True).start()
        sys.stdin.read()
        stop.set()
    else:
        sys.stdin.read()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    {"junk": junk, "idle": idle, "resumes": resumes, "local": local}[sys.argv[1]](*sys.argv[2:])
