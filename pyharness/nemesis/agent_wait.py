"""The nemesis agent's waiting step (see :mod:`pyharness.nemesis.agent`).

Run by the agent playbook on the controller: block until the driver writes
one request line (JSON) into the FIFO, print it and exit. If the driver dies
first (its pid is gone) or ``max_wait`` seconds pass, print an ``exit``
request instead, so no agent outlives its driver.

    python3 agent_wait.py FIFO DRIVER_PID MAX_WAIT_S
"""

from __future__ import annotations

import os
import select
import sys
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(fifo: str, driver: int, max_wait: float) -> None:
    # Read-write, so the FIFO always has a writer (us) and never reads EOF
    # between the driver's requests.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    deadline = time.monotonic() + max_wait
    buf = b""
    while time.monotonic() < deadline and alive(driver):
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        buf += os.read(fd, 65536)
        if b"\n" in buf:
            print(buf.split(b"\n", 1)[0].decode())
            return
    print('{"action": "exit"}')


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
