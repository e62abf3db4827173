"""The driver's own CPU, sampled during a run, says when the harness was
the limit."""

from __future__ import annotations

import time

from pyharness.driver_load import DriverLoad, describe


def test_a_busy_driver_is_seen_saturated_and_an_idle_one_is_not() -> None:
    with DriverLoad(interval_s=0.1) as busy:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pass  # one core, flat out
    with DriverLoad(interval_s=0.1) as idle:
        time.sleep(0.6)
    b, i = busy.summary(), idle.summary()
    assert b["samples"] >= 3 and i["samples"] >= 3
    # A shared machine may steal some of the busy loop's time: ask only that
    # some interval saw a full core, and that busy and idle are far apart.
    assert b["cpu-cores-max"] >= 0.9 and b["saturated-share"] > 0
    assert i["saturated-share"] == 0 and b["cpu-cores-mean"] > i["cpu-cores-mean"] + 0.3
    line = describe(b)
    assert line is not None and "saturated" in line and "of a core" in line


def test_no_samples_says_nothing() -> None:
    with DriverLoad(interval_s=10) as load:
        pass
    assert load.summary() == {"samples": 0} and describe(load.summary()) is None
