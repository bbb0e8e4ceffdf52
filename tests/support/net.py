#!/usr/bin/env python3
"""Traffic for the end-to-end tests, run inside a terminal's namespace.

  serve ADDR PORT OUT        accept one TCP connection, read to the end, write
                             "<bytes> <sha256>" to OUT (listening is announced
                             by creating OUT.ready)
  send ADDR PORT BYTES [MBPS] [PATTERN]
                             connect (3 s timeout), send BYTES of PATTERN
                             repeated (at most MBPS megabytes/s), print
                             "<bytes> <sha256>"; with $CUG_TEST_MSS set, the
                             connection's MSS is that many bytes
  probe ADDR PORT            exit 0 if a TCP connection opens within 2 s
  datagrams PCAP PORT [DST]  hex of every single UDP datagram to PORT (and
                             address DST) that starts with 0x01 (a data packet)
  udp ADDR PORT HEX          send one datagram
  udp-file ADDR PORT FILE    send one datagram per line of FILE (hex)
  junk ADDR PORT N SEED      send N datagrams that are not data packets of any
                             pair: empty ones, ones of another type, ones of
                             the data type too short or with unknown indices,
                             and ones of the hello reply's shape that are not
                             cugd's; print how each should count, as
                             "malformed=M not_data=D unknown_index=U"
"""
import hashlib
import os
import socket
import struct
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(addr, port, out):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port)))
    s.listen(1)
    open(out + ".ready", "w").close()
    s.settimeout(30)
    c, _ = s.accept()
    c.settimeout(30)
    h, n = hashlib.sha256(), 0
    while True:
        data = c.recv(65536)
        if not data:
            break
        h.update(data)
        n += len(data)
    with open(out, "w") as f:
        f.write(f"{n} {h.hexdigest()}\n")


def send(addr, port, total, mbps=None, pattern="cug test payload "):
    total = int(total)
    block = (pattern.encode() * (65536 // len(pattern) + 1))[:65536]
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    if os.environ.get("CUG_TEST_MSS"):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, int(os.environ["CUG_TEST_MSS"]))
    s.settimeout(3)
    s.connect((addr, int(port)))
    s.settimeout(30)
    h, sent, start = hashlib.sha256(), 0, time.monotonic()
    while sent < total:
        chunk = block[: min(len(block), total - sent)]
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
        if mbps:
            ahead = sent / (float(mbps) * 1e6) - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    print(f"{sent} {h.hexdigest()}")


def probe(addr, port):
    try:
        socket.create_connection((addr, int(port)), timeout=2).close()
    except OSError:
        sys.exit(1)


def datagrams(path, port, dst=None):
    want = socket.inet_pton(family(dst), dst) if dst else None
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    i = 24
    while i + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[i + 8:i + 12])[0]
        frame = data[i + 16:i + 16 + incl]
        i += 16 + incl
        if linktype == 1:  # Ethernet
            ethertype, ip = struct.unpack(">H", frame[12:14])[0], frame[14:]
        elif linktype == 113:  # Linux cooked capture
            ethertype, ip = struct.unpack(">H", frame[14:16])[0], frame[16:]
        else:
            continue
        if ethertype == 0x0800 and ip and ip[9] == 17:
            udp, to = ip[(ip[0] & 15) * 4:], ip[16:20]
        elif ethertype == 0x86DD and len(ip) > 40 and ip[6] == 17:
            udp, to = ip[40:], ip[24:40]
        else:
            continue
        if want and to != want:
            continue
        # A capture on a veth shows a UDP GSO send as one large packet; only
        # single datagrams (at most 1500 bytes) are listed.
        if 9 < len(udp) <= 1508 and struct.unpack(">H", udp[2:4])[0] == int(port) and udp[8] == 1:
            print(udp[8:].hex())


def udp(addr, port, hexdata):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.sendto(bytes.fromhex(hexdata), (addr, int(port)))


def udp_file(addr, port, path):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    for line in open(path):
        if line.strip():
            s.sendto(bytes.fromhex(line.strip()), (addr, int(port)))


def junk(addr, port, n, seed):
    import random
    rng = random.Random(int(seed))
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    counts = {"malformed": 0, "not_data": 0, "unknown_index": 0}
    for _ in range(int(n)):
        kind = rng.randrange(6)
        if kind == 0:    # empty
            d, why = b"", "malformed"
        elif kind == 1:  # another type, any length
            d = bytes([rng.choice([t for t in range(256) if t != 1])]) + rng.randbytes(rng.randrange(0, 1400))
            why = "not_data"
        elif kind == 2:  # the data type, shorter than a header and a tag
            d, why = b"\x01" + rng.randbytes(rng.randrange(0, 31)), "malformed"
        elif kind == 3:  # the data type, padding not zero
            d, why = b"\x01\x00\x07\x00" + rng.randbytes(rng.randrange(28, 1400)), "malformed"
        elif kind == 4:  # a data packet's shape for an index no pair has
            d = b"\x01\x00\x00\x00" + rng.randbytes(rng.randrange(28, 1400))
            why = "unknown_index"
        else:            # the hello reply's shape, not from cugd
            d, why = b"cugh" + rng.randbytes(74), "not_data"
        s.sendto(d, (addr, int(port)))
        counts[why] += 1
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    {"serve": serve, "send": send, "probe": probe, "datagrams": datagrams, "udp": udp,
     "udp-file": udp_file, "junk": junk}[sys.argv[1]](*sys.argv[2:])
