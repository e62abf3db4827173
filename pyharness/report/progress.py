"""The live display: elapsed time against the limit, op outcomes, nemesis.

Fed one op at a time by the interpreter (from its main thread); rich
redraws on its own refresh thread. When stderr is not a terminal (CI) rich
prints nothing live, and the phase lines and final table still appear.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pyharness.gen.driver_load import SATURATED_CORES, DriverLoad
from pyharness.history import INVOKE, NEMESIS, Op

_STYLE = {"ok": "green", "fail": "red", "info": "yellow"}


class LiveStatus:
    def __init__(self, console: Console, time_limit: float) -> None:
        self.console = console
        self.time_limit = time_limit
        self.counts: Counter[str] = Counter()
        self.nemesis = "idle"
        self.unverified = 0  # nemesis ops whose effect could not be shown
        self.phase = "starting"
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             TextColumn("{task.completed:>5.0f}/{task.total:.0f} s"),
                             TimeElapsedColumn(), console=console)
        self._task = self._bar.add_task("load", total=time_limit)
        self._t0: float | None = None
        self.driver: DriverLoad | None = None  # set while the load runs
        self._rate_mark: tuple[float, int] | None = None
        self.ok_rate: float | None = None
        self._live = Live(console=console, refresh_per_second=4, transient=False,
                          get_renderable=self._render)

    def __enter__(self) -> LiveStatus:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)  # type: ignore[arg-type]
        if not self.console.is_terminal:
            self.console.print()  # rich leaves the last frame unterminated there

    def start_load(self) -> None:
        self._t0 = time.monotonic()
        self.phase = "load"

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.console.log(f"[bold]{phase}[/bold]")

    def on_op(self, op: Op) -> None:
        if op.process == NEMESIS:
            if op.type != INVOKE:
                unverified = op.extra.get("unverified") or {}
                if unverified:
                    self.unverified += 1
                    hosts = ",".join(sorted(unverified))
                    state = f"NOT IN EFFECT on {hosts}: {op.f}"
                else:
                    state = "error" if op.error else op.f
                self.nemesis = f"{state} {_describe(op)}".strip()
            else:
                self.nemesis = f"{op.f}…"
            return
        if op.type != INVOKE:
            self.counts[op.type] += 1

    def _render(self) -> Group:
        if self._t0 is not None:
            elapsed = min(time.monotonic() - self._t0, self.time_limit)
            self._bar.update(self._task, completed=elapsed, description=self.phase)
        counts = Text.assemble(*[(f"{k} {self.counts[k]}  ", _STYLE[k]) for k in _STYLE])
        lines = [self._bar, Text.assemble("ops: ", counts), Text(f"nemesis: {self.nemesis}")]
        throughput = self._throughput()
        if throughput:
            lines.append(Text(throughput))
        if self.unverified:
            lines.append(Text(f"faults not in effect: {self.unverified}", style="red"))
        return Group(*lines)


    def _throughput(self) -> str:
        """ok ops/s over the last second or so, and the driver's CPU."""
        now, ok = time.monotonic(), self.counts["ok"]
        if self._rate_mark is None:
            self._rate_mark = (now, ok)
        elif now - self._rate_mark[0] >= 1.0:
            self.ok_rate = (ok - self._rate_mark[1]) / (now - self._rate_mark[0])
            self._rate_mark = (now, ok)
        parts = []
        if self.ok_rate is not None:
            parts.append(f"ok/s: {self.ok_rate:.0f}")
        cores = self.driver.current if self.driver is not None else None
        if cores is not None:
            busy = "  (saturated)" if cores >= SATURATED_CORES else ""
            parts.append(f"driver CPU: {cores:.0%} of a core{busy}")
        return "   ".join(parts)


def _describe(op: Op) -> str:
    v = op.value
    if isinstance(v, Mapping) and "components" in v:
        components = v["components"]
        if isinstance(components, list):
            return " | ".join(",".join(map(str, c)) for c in components)
        # A grudge from a file has no components: say who drops whom.
        grudge = op.extra.get("grudge")
        if isinstance(grudge, Mapping):
            return "; ".join(f"{h} drops {','.join(map(str, p))}"
                             for h, p in sorted(grudge.items()))
    return ""


def results_table(results: Mapping[str, Any]) -> Table:
    table = Table(title="results")
    table.add_column("checker")
    table.add_column("valid?")
    table.add_column("details")
    for name, r in results.items():
        if not isinstance(r, Mapping):
            continue
        v = r.get("valid?")
        style = {True: "green", False: "red"}.get(v, "yellow")  # type: ignore[call-overload]
        details = ", ".join(f"{k} {r[k]}" for k in _summary_keys(r))
        table.add_row(name, Text(str(v).lower(), style=style), details)
    return table


def _summary_keys(r: Mapping[str, Any]) -> list[str]:
    keys = [k for k, v in r.items()
            if k != "valid?" and isinstance(v, (int, float, str)) and not isinstance(v, bool)
            and len(str(v)) <= 40 and not k.endswith("-frac")]
    return keys[:12]


def failure_notes(results: Mapping[str, Any]) -> list[str]:
    """Plain lines under the table: what each failure was, with its facts,
    and the faults that were not in effect."""
    notes: list[str] = []
    linear = results.get("linear")
    if isinstance(linear, Mapping):
        for f in linear.get("failures", []):
            op = linear.get("keys", {}).get(f.get("key"), {}).get("op", {})
            if op.get("explanation"):
                notes.append(f"not linearizable, key {f.get('key')}: {op['explanation']}")
    from pyharness import workloads

    for name, notes_of in workloads.notes().items():
        r = results.get(name)
        if isinstance(r, Mapping):
            notes.extend(notes_of(r))
    faults = results.get("faults")
    if isinstance(faults, Mapping):
        if faults.get("reason"):
            notes.append(f"faults: {faults['reason']}")
        for m in faults.get("not-in-effect", [])[:10]:
            notes.append(f"not in effect: {m['f']} on {m['host']}: {m['reason']}")
    return notes
