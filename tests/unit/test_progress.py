"""The live status line: every nemesis op shows, whatever its value's shape."""

from __future__ import annotations

import io

from rich.console import Console

from pyharness.history import INFO, NEMESIS, Op
from pyharness.report.progress import LiveStatus


def _status() -> LiveStatus:
    return LiveStatus(Console(file=io.StringIO()), 10.0)


def test_a_partition_shows_its_components() -> None:
    s = _status()
    s.on_op(Op(type=INFO, f="start-partition", process=NEMESIS, time=1,
               value={"components": [["n1"], ["n2", "n3"]]}))
    assert s.nemesis == "start-partition n1 | n2,n3"


def test_a_grudge_from_a_file_shows_who_drops_whom() -> None:
    # A grudge file has no components (it need not be a partition into groups).
    op = Op(type=INFO, f="start-partition", process=NEMESIS, time=1,
            value={"components": None})
    op.extra["grudge"] = {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}
    s = _status()
    s.on_op(op)
    assert s.nemesis == "start-partition n1 drops n3; n2 drops n3; n3 drops n1,n2"
