"""Did the faults the user asked for happen?

A fault recorded as done that never took effect turns "we never tested that"
into "valid". So every nemesis op carries its evidence (see
:mod:`pyharness.nemesis.faults`): ``verified``, host -> what showed the fault
in effect there (a probe that timed out, the process state, the rule), and
``unverified``, host -> why that could not be shown.

This checker reads that evidence against ``--nemesis``:

- **unknown** if a fault the user asked for never took effect on any host,
  with the reason (never started, or every attempt unverified). The run then
  tested less than it says, so it cannot be called valid.
- otherwise **valid**, listing every op that was not in effect somewhere
  (``not-in-effect``: the op, the host, the reason), heals included.

A stop can also find that its start fell short of what the fault is for
(``effect-not-reached``: ``partition-snapshot`` healed before the leader
was far enough ahead to force a snapshot). That start then counts as not
in effect.

A history written before ops carried evidence has none, and is judged the
same way: no evidence is not proof.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checkers.core import UNKNOWN
from checkers.windows import nemesis_actions
from pyharness.history import Op

#: Ops listed in ``not-in-effect``; the counts stay exact.
MAX_LISTED = 50


def requested_faults(spec: object, kinds: object = None) -> list[str]:
    """The fault names that nemesis ops carry (``start-partition``...) for the
    ``--nemesis`` spec: the run's ``fault-kinds`` (recorded in ``test.json``
    from the fault registry, which maps each name to its kind) when it has
    them. Older runs lack them; for those, ``"partition-isolate-one,kill"``
    -> ``["partition", "kill"]`` by name, the only variants they knew."""
    if isinstance(kinds, list) and all(isinstance(k, str) for k in kinds):
        return list(dict.fromkeys(kinds))
    if not isinstance(spec, str):
        return []
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        name = "partition" if part.startswith("partition") else part
        if part and part != "none" and name not in out:
            out.append(name)
    return out


class FaultsChecker:
    name = "faults"

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        options = test.get("options")
        spec = options.get("nemesis") if isinstance(options, Mapping) else None
        wanted = requested_faults(spec, test.get("fault-kinds"))
        per: dict[str, dict[str, int]] = {
            f: {"started": 0, "in-effect": 0, "not-in-effect": 0} for f in wanted}
        missed: list[dict[str, Any]] = []
        missed_count = 0
        # Nemesis invocations and completions are both info (Jepsen's way):
        # pair them, and read the evidence off the completion.
        counted: dict[str, bool] = {}  # fault -> its last start counted in effect
        for action in nemesis_actions(history):
            op = action.complete
            if op is None:
                continue
            verb, _, fault = str(op.f).partition("-")
            if verb not in ("start", "stop") or op.value == "not active":
                continue
            short = op.extra.get("effect-not-reached")
            if verb == "stop" and short and fault in per:
                if counted.pop(fault, False):
                    per[fault]["in-effect"] -= 1
                    per[fault]["not-in-effect"] += 1
                missed_count += 1
                if len(missed) < MAX_LISTED:
                    missed.append({"f": op.f, "time": op.time, "index": op.index,
                                   "host": str(op.extra.get("member") or "?"),
                                   "reason": str(short)})
            verified = op.extra.get("verified") or {}
            unverified = dict(op.extra.get("unverified") or {})
            if not verified and not unverified:
                unverified = {h: "no evidence recorded" for h in op.extra.get("hosts") or ["?"]}
            if verb == "start" and fault in per:
                per[fault]["started"] += 1
                counted[fault] = bool(verified and not unverified)
                per[fault]["in-effect" if counted[fault] else "not-in-effect"] += 1
            for host, why in sorted(unverified.items()):
                missed_count += 1
                if len(missed) < MAX_LISTED:
                    missed.append({"f": op.f, "time": op.time, "index": op.index,
                                   "host": host, "reason": str(why)})
        never = [f for f in wanted if per[f]["in-effect"] == 0]
        result: dict[str, Any] = {"valid?": True, "requested": wanted, "faults": per,
                                  "not-in-effect-count": missed_count,
                                  "not-in-effect": missed}
        if never:
            why = []
            for f in never:
                if per[f]["started"] == 0:
                    why.append(f"{f} was never started")
                else:
                    reasons = sorted({m["reason"] for m in missed
                                      if m["f"] in (f"start-{f}", f"stop-{f}")})
                    why.append(f"{f} never took effect ({per[f]['started']} attempts; "
                               f"{'; '.join(reasons[:3]) or 'no evidence'})")
            result["valid?"] = UNKNOWN
            result["reason"] = "; ".join(why)
        return result
