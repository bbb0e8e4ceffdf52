#!/usr/bin/env python3
"""syslog.py SOCKET OUT: listens on the datagram socket SOCKET as a syslog
daemon does on /dev/log and appends each message it gets to OUT, one per line
(RFC 3164 as glibc's syslog(3) sends it: "<PRI>TIMESTAMP TAG: MESSAGE"; a
newline inside becomes "\\n"). Runs until killed; SOCKET exists once it
listens."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
tmp = path + ".new"
s.bind(tmp)
os.chmod(tmp, 0o666)
os.rename(tmp, path)
with open(out, "ab", buffering=0) as f:
    while True:
        data = s.recv(65536).rstrip(b"\0").rstrip(b"\n")
        f.write(data.replace(b"\n", b"\\n") + b"\n")
