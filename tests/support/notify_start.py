#!/usr/bin/env python3
"""notify_start.py SOCKET LOG PROGRAM [ARG...]: starts PROGRAM as systemd
starts a Type=notify service: with $NOTIFY_SOCKET naming a datagram socket
bound (open to any user) at SOCKET before it starts, its stdin /dev/null and
its stderr appended to LOG. Prints "pid N" at once and then what the program
notified, and exits 0 once that holds READY=1, leaving the program running
(the caller stops it by that PID); exits 1 if it ends first."""
import os
import socket
import subprocess
import sys


def main():
    path, log, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o777)
    with open(log, "a") as err:
        child = subprocess.Popen(argv, env=dict(os.environ, NOTIFY_SOCKET=path),
                                 stdin=subprocess.DEVNULL, stderr=err)
    print("pid", child.pid, flush=True)
    s.settimeout(1)
    while True:
        try:
            message = s.recv(4096).decode()
        except socket.timeout:
            if child.poll() is not None:
                sys.exit("%s exited with status %d before READY=1" % (argv[0], child.returncode))
            continue
        print(message, flush=True)
        if "READY=1" in message.split("\n"):
            return


if __name__ == "__main__":
    main()
