#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and answers its prompts, each only once
it has been asked (never typing ahead of the program, whatever the machine's
speed):

  answer_prompts.py PROMPT ANSWER [PROMPT ANSWER ...] -- COMMAND [ARG ...]

Everything the command writes to the terminal is printed; the exit status is
the command's. A prompt that does not appear before the command ends (or
within CUG_TTY_TIMEOUT seconds, default 300: a guard against a hang, not a
measure of speed) is an error, exit 125.
"""
import os
import pty
import select
import sys
import time


def main(argv):
    if "--" not in argv:
        print("usage: answer_prompts.py PROMPT ANSWER ... -- COMMAND ...", file=sys.stderr)
        return 125
    split = argv.index("--")
    pairs, command = argv[:split], argv[split + 1:]
    if len(pairs) % 2 or not command:
        print("usage: answer_prompts.py PROMPT ANSWER ... -- COMMAND ...", file=sys.stderr)
        return 125
    script = [(pairs[i].encode(), pairs[i + 1].encode() + b"\n") for i in range(0, len(pairs), 2)]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    timeout = float(os.environ.get("CUG_TTY_TIMEOUT", "300"))
    deadline = time.monotonic() + timeout
    seen = b""      # all output, for the caller
    pending = b""   # output since the last prompt was answered
    step = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, 9)
            sys.stdout.write(seen.decode(errors="replace"))
            print(f"answer_prompts.py: no prompt {script[step][0]!r} after {timeout:.0f} s", file=sys.stderr)
            os.waitpid(pid, 0)
            return 125
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # the command closed the terminal (it ended)
            data = b""
        if not data:
            break
        seen += data
        pending += data
        while step < len(script) and script[step][0] in pending:
            pending = pending.split(script[step][0], 1)[1]
            os.write(fd, script[step][1])
            step += 1
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode(errors="replace"))
    if step < len(script):
        print(f"answer_prompts.py: the command ended before asking {script[step][0]!r}", file=sys.stderr)
        return 125
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
