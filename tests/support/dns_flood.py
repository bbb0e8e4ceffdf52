#!/usr/bin/env python3
"""A flood at cug-tun's resolver, for the tests: dns_flood.py ADDRESS N

Sends N UDP datagrams to ADDRESS port 53 as fast as the socket takes them, a
mix of well-formed queries (random names in and out of the zone), random
bytes, cut queries, responses and a 4 KiB datagram; and opens 40 TCP
connections, each sending a length prefix and a few bytes and then nothing.
Prints "sent S answered A tcp_open O" once all is sent (the connections are
closed on exit).
"""
import errno
import os
import random
import socket
import struct
import sys


def query(name, qtype=1, qid=None, flags=0x0100):
    out = struct.pack(">HHHHHH", random.getrandbits(16) if qid is None else qid, flags, 1, 0, 0, 0)
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0" + struct.pack(">HH", qtype, 1)


def main():
    address, n = sys.argv[1], int(sys.argv[2])
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.connect((address, 53))
    random.seed(7)
    sent = answered = 0
    for i in range(n):
        kind = i % 6
        if kind == 0:
            d = query(f"u{random.getrandbits(20)}.vpn{i % 3}.cug")
        elif kind == 1:
            d = os.urandom(random.randint(0, 300))
        elif kind == 2:
            d = query("user-a.vpn1.cug")[: random.randint(1, 25)]
        elif kind == 3:
            d = query("user-a.vpn1.cug", flags=0x8180)  # a response
        elif kind == 4:
            d = query(f"www{i}.example.com", 255)
        else:
            d = os.urandom(4096) if i % 600 == 5 else query("user-c.vpn2.cug", 28)
        try:
            s.send(d)
            sent += 1
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ENOBUFS, errno.ECONNREFUSED):
                raise
        try:
            while True:
                s.recv(4096)
                answered += 1
        except OSError:
            pass
    held = []
    for _ in range(40):
        try:
            t = socket.create_connection((address, 53), timeout=2)
            t.sendall(b"\xff\xff\x01\x02\x03")
            held.append(t)
        except OSError:
            pass
    print(f"sent {sent} answered {answered} tcp_open {len(held)}")


main()
