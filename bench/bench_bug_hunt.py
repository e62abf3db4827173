"""How often, and how fast, a known-bug scenario catches its bug: over seeds.

A bug hunt such as etcd#13766 (``scenarios/bugs/etcd-13766.yaml``) is a
matter of chance: one run may catch the bug in seconds, the next not at
all. This runs one bug file through ``pyharness bugs`` (the real CLI, as a
user runs it) once per seed and per release, and prints for each release:
how many runs caught the bug, the time to catch (from the start of the load
to the first violation) as min / median / max over the runs that caught
it, and the wall time of each run, setup and checks included. A checker
that judges once at the end (``consistency``, which compares the members
after the final reads) has no first violation: its time to catch is the
whole run's, and is marked so.

    .venv/bin/python bench/bench_bug_hunt.py scenarios/bugs/etcd-13766.yaml \
        --releases 3.5.1,3.5.16 --seeds 5 [--time-limit 120] [--nodes 3] \
        [-i INVENTORY] [--store DIR]

Seeds are 1..N (``--seeds N``) or a list (``--seeds 3,7,11``). Every run
is bounded by the scenario's time limit (or ``--time-limit``). A release
the file expects to pass counts a catch as a false alarm; the table says so.
Exit 0 when every run came out as the file expects, else 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYHARNESS = Path(sys.executable).parent / "pyharness"


def seeds_of(text: str) -> list[int]:
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    return list(range(1, int(text) + 1))


def one_run(bug_file: Path, release: str, seed: int, args: argparse.Namespace,
            store: Path) -> dict[str, Any]:
    """``pyharness bugs`` on a folder holding only ``bug_file``, one release."""
    with tempfile.TemporaryDirectory(prefix="hunt-") as d:
        shutil.copy(bug_file, Path(d) / bug_file.name)
        cmd = [str(PYHARNESS), "bugs", d, "--releases", release, "--seed", str(seed),
               "--store", str(store), "--json"]
        if args.time_limit is not None:
            cmd += ["--time-limit", str(args.time_limit)]
        if args.inventory:
            cmd += ["-i", args.inventory]
        else:
            cmd += ["--nodes", str(args.nodes)]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.monotonic() - t0
    try:
        cell = json.loads(p.stdout)["cells"][0]
    except (ValueError, KeyError, IndexError):
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"seed": seed, "seen": "error", "time-s": None, "wall-s": wall,
                "expected": "?", "note": tail}
    return {"seed": seed, "seen": cell["seen"], "time-s": cell["time-s"], "wall-s": wall,
            "expected": cell["expected"], "note": cell.get("note", ""), "run": cell.get("run"),
            "time-of": cell.get("time-of", "first-violation")}


def spread(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{min(xs):.0f} / {statistics.median(xs):.0f} / {max(xs):.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bug_file", type=Path)
    ap.add_argument("--releases", required=True, help="comma-separated, e.g. 3.5.1,3.5.16")
    ap.add_argument("--seeds", default="5", help="N (seeds 1..N) or a comma-separated list")
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("-i", "--inventory", default=None)
    ap.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "bug-hunt")
    args = ap.parse_args()
    if not args.bug_file.is_file():
        print(f"{args.bug_file}: no such bug file", file=sys.stderr)
        return 2
    releases = [r.strip() for r in args.releases.split(",") if r.strip()]
    runs: dict[str, list[dict[str, Any]]] = {r: [] for r in releases}
    for seed in seeds_of(args.seeds):
        for rel in releases:
            r = one_run(args.bug_file, rel, seed, args, args.store)
            runs[rel].append(r)
            t = f"{r['time-s']:.0f} s" if r["time-s"] is not None else "-"
            if r["seen"] == "caught" and r.get("time-of") == "final-check":
                t += " (at the final check)"
            print(f"{rel:>8}  seed {seed:<4} {r['seen']:<8} to catch {t:>6}   "
                  f"wall {r['wall-s']:.0f} s  {r['note']}", flush=True)
    print()
    print(f"{'release':>8}  {'expected':<8} {'caught':>7}  {'to catch s (min/med/max)':<26} "
          f"{'wall s (min/med/max)'}")
    ok = True
    for rel in releases:
        rs = runs[rel]
        caught = [r for r in rs if r["seen"] == "caught"]
        expected = next((r["expected"] for r in rs if r["expected"] != "?"), "?")
        ok = ok and all((r["expected"], r["seen"]) in (("caught", "caught"),
                                                      ("passes", "passed")) for r in rs)
        print(f"{rel:>8}  {expected:<8} {len(caught):>3}/{len(rs):<3}  "
              f"{spread([r['time-s'] for r in caught]):<26} "
              f"{spread([r['wall-s'] for r in rs])}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
