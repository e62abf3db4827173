"""How busy the driver itself was: so that a user can tell when the harness,
not etcd, limited a test's throughput.

A sampler thread reads the process's CPU time (user + system, all threads)
once a second. A sample at 0.9 cores or more counts as *saturated*: the
generator, the history and the clients share one interpreter lock, so about
one core is all the driver's Python can use, and past that more workers or a
higher ``--rate`` add queueing in the driver, not load on etcd.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

SATURATED_CORES = 0.9


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class DriverLoad:
    """Samples the driver's CPU while a ``with`` block runs."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (seconds since start, cores)
        self._stop = threading.Event()
        self._t0 = 0.0
        self._thread = threading.Thread(target=self._loop, name="driver-load", daemon=True)

    def __enter__(self) -> DriverLoad:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        last_wall, last_cpu = time.monotonic(), _cpu_s()
        while not self._stop.wait(self.interval_s):
            wall, cpu = time.monotonic(), _cpu_s()
            if wall > last_wall:
                self.samples.append((wall - self._t0, (cpu - last_cpu) / (wall - last_wall)))
            last_wall, last_cpu = wall, cpu

    @property
    def current(self) -> float | None:
        """Cores used over the last interval, if one has passed."""
        return self.samples[-1][1] if self.samples else None

    def summary(self) -> dict[str, Any]:
        cores = [c for _, c in self.samples]
        if not cores:
            return {"samples": 0}
        return {
            "samples": len(cores),
            "interval-s": self.interval_s,
            "cpu-cores-mean": sum(cores) / len(cores),
            "cpu-cores-max": max(cores),
            "saturated-share": sum(1 for c in cores if c >= SATURATED_CORES) / len(cores),
            "cpu-cores": [round(c, 3) for c in cores],
        }


def describe(summary: dict[str, Any]) -> str | None:
    """One line for the terminal and the report, or None without samples."""
    if not summary.get("samples"):
        return None
    return (f"driver CPU {summary['cpu-cores-mean']:.0%} of a core on average "
            f"(peak {summary['cpu-cores-max']:.0%}), saturated "
            f"{summary['saturated-share']:.0%} of the time")
