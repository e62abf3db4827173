"""The lock checker: were two clients ever in the critical section at once?

A lock is for mutual exclusion: while one client holds it, no other may.
The lock workload (:mod:`pyharness.workloads.lock`) makes that observable.
Every holder reads a shared set, adds its element and writes the set back,
and its write records the store revision at which it read. After the test a
``versions`` op lists every version of the set key with two revisions from
etcd itself, one total order for the whole cluster:

- ``read_revision``: when the holder read the set (it held the lock then);
- ``mod_revision``: when its write was applied (it still believed it held
  the lock then).

So each holder was inside its critical section over the revision interval
``[read_revision, mod_revision]``. If the lock works, those intervals are
disjoint: the next holder gets the lock after the previous one released it,
which was after its write. Two intervals that **overlap** are two holders
at once: the later reader read the set while the earlier holder's write was
still to come. The checker lists each overlap with both elements, their
revisions and the add ops that made them, and counts **overwrites**:
versions that do not extend the one before by exactly one element, the
adds those late writes erased (the set checker counts them as lost).

``valid?`` is false if any two critical sections overlap, unknown if no
``versions`` op succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checkers.core import UNKNOWN
from pyharness.history import OK, Op, pairs

MAX_DETAILED = 50


class LockChecker:
    name = "lock"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        final: Op | None = None
        adds: dict[Any, dict[str, Any]] = {}
        for inv, comp in pairs(history):
            if inv.f == "versions" and comp is not None and comp.type == OK:
                final = comp
            elif inv.f == "add":
                adds[inv.value] = {"process": inv.process, "invoke-index": inv.index,
                                   "type": comp.type if comp is not None else "info",
                                   "complete-index": comp.index if comp is not None else None,
                                   "node": inv.node}
        if final is None:
            return {"valid?": UNKNOWN, "error": "no-versions-read"}
        versions = [v for v in final.value or [] if v.get("read_revision") is not None]
        overwrites = []
        prev_size = 0
        for v in final.value or []:
            if v["size"] != prev_size + 1:
                overwrites.append({"element": v["element"], "mod_revision": v["mod_revision"],
                                   "size": v["size"], "previous-size": prev_size})
            prev_size = v["size"]
        overlaps: list[dict[str, Any]] = []
        count = 0
        holder: dict[str, Any] | None = None  # the section reaching furthest so far
        for v in sorted(versions, key=lambda v: (v["read_revision"], v["mod_revision"])):
            if holder is not None and v["read_revision"] < holder["mod_revision"]:
                count += 1
                if len(overlaps) < MAX_DETAILED:
                    overlaps.append({
                        "first": {**_section(holder), "add": adds.get(holder["element"])},
                        "second": {**_section(v), "add": adds.get(v["element"])},
                        "why": (f"{v['element']} read the set at revision {v['read_revision']}"
                                f", inside the critical section of {holder['element']} "
                                f"(read at {holder['read_revision']}, written at "
                                f"{holder['mod_revision']})")})
            if holder is None or v["mod_revision"] > holder["mod_revision"]:
                holder = v
        return {
            "valid?": count == 0,
            "version-count": len(final.value or []),
            "overlap-count": count,
            "overlaps": overlaps,
            "overwrite-count": len(overwrites),
            "overwrites": overwrites[:MAX_DETAILED],
        }


def _section(v: Mapping[str, Any]) -> dict[str, Any]:
    return {"element": v["element"], "read_revision": v["read_revision"],
            "mod_revision": v["mod_revision"]}
