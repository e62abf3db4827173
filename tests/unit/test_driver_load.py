"""The driver's own CPU, sampled during a run, says when the harness was
the limit."""

from __future__ import annotations

import time

from pyharness.gen.driver_load import DriverLoad, describe


def test_the_sampler_tells_a_busy_driver_from_an_idle_one() -> None:
    with DriverLoad(interval_s=0.1) as busy:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pass  # flat out on one core
    with DriverLoad(interval_s=0.1) as idle:
        time.sleep(1.0)
    b, i = busy.summary(), idle.summary()
    assert b["samples"] >= 5 and i["samples"] >= 5
    # A shared machine may steal much of the busy loop's time, so no
    # absolute figure: only that the two are far apart.
    assert b["cpu-cores-mean"] > 4 * i["cpu-cores-mean"] and b["cpu-cores-mean"] > 0.1
    assert i["saturated-share"] == 0


def test_saturated_is_the_share_of_intervals_at_a_full_core() -> None:
    load = DriverLoad()
    load.samples = [(1.0, 0.2), (2.0, 0.95), (3.0, 1.1), (4.0, 0.5)]
    s = load.summary()
    assert s["saturated-share"] == 0.5 and s["cpu-cores-max"] == 1.1
    line = describe(s)
    assert line == ("driver CPU 69% of a core on average (peak 110%), "
                    "saturated 50% of the time")


def test_no_samples_says_nothing() -> None:
    with DriverLoad(interval_s=10) as load:
        pass
    assert load.summary() == {"samples": 0} and describe(load.summary()) is None
