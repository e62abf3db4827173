"""When a watch's events arrived: one place for the watch checker, which
times each violation by it, and the drawing, which places each event by it."""

from __future__ import annotations

from pyharness.history import Op


def arrivals_s(inv: Op, comp: Op, n: int) -> list[float]:
    """When each of a watch's ``n`` events arrived, in seconds since the test
    began: its response's ``arrived-ms`` after the invocation where the
    workload recorded it, else the watch's end."""
    v = comp.value
    splits, ms = v.get("splits"), v.get("arrived-ms")
    end = round(comp.time / 1e9, 3)
    if not (isinstance(splits, list) and isinstance(ms, list) and len(splits) == len(ms)):
        return [end] * n
    out = [end] * n
    for j, (first, after) in enumerate(zip(splits, ms, strict=True)):
        if not (isinstance(first, int) and isinstance(after, int | float)):
            return [end] * n
        last = splits[j + 1] if j + 1 < len(splits) and isinstance(splits[j + 1], int) else n
        t = round(min(inv.time / 1e9 + after / 1000, end), 3)
        for i in range(max(first, 0), min(last, n)):
            out[i] = t
    return out
