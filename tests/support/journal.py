#!/usr/bin/env python3
"""journal.py SOCKET OUT: listens on the datagram socket SOCKET as
systemd-journald's /run/systemd/journal/socket does and appends each entry it
gets to OUT as one JSON object per line ({"FIELD": "value", ...}). It reads
the journal's native protocol as systemd documents it
(https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): FIELD=value lines, or FIELD,
a newline, a little-endian 64-bit length and that many bytes for a value that
holds a newline; a datagram that carries a memfd instead is recorded as
{"_MEMFD": true}. Runs until killed; SOCKET exists once it listens."""
import array
import json
import os
import socket
import struct
import sys


def parse(data):
    entry = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 9
            value = data[start:start + size]
            if data[start + size:start + size + 1] != b"\n":
                raise ValueError("binary field not followed by a newline")
            i = start + size + 1
        entry[key.decode()] = value.decode("utf-8", "replace")
    return entry


def main():
    path, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    tmp = path + ".tmp"
    s.bind(tmp)
    os.rename(tmp, path)
    with open(out, "a", buffering=1) as f:
        while True:
            data, ancillary, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4 * 8))
            fds = array.array("i")
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            if fds:
                for fd in fds:
                    os.close(fd)
                f.write(json.dumps({"_MEMFD": True}) + "\n")
                continue
            try:
                f.write(json.dumps(parse(data)) + "\n")
            except (ValueError, struct.error) as e:
                f.write(json.dumps({"_MALFORMED": str(e)}) + "\n")


if __name__ == "__main__":
    main()
