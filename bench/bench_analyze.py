"""Benchmark: ``pyharness analyze`` end to end, with reading and searching apart.

Histories are generated here, then written in every format that can hold
them, and analyzed as a user would:

- cas-register, 10k and 100k ops, 5 processes: linearizable, and with one
  stale read (``bench_linearizable``'s simulation and injection);
- cas-register, 20 processes, 1% of writes crash (``info``);
- Porcupine-style kv (get / put / append on 10 string keys), 50 clients:
  linearizable, and with one get of a value no order of writes gives.

Register histories are written as our JSONL, Jepsen ``history.edn`` (one op
map a line) and Jepsen log lines; kv histories as JSONL, EDN and Porcupine's
kv format. Each case is timed three ways, ``--repeats`` times each (min /
median / max): the whole command in a subprocess (start-up, reading,
checking, printing), and, in another subprocess, the reading
(``read_history``) and the search (the linearizability checker) alone.
Verdicts are printed so a wrong one shows. A case of N ops has N
invocations, so its history has about 2N ops (the ``ops`` column). It
asserts nothing: figures are for people.

    .venv/bin/python bench/bench_analyze.py              # 10k and 100k ops
    .venv/bin/python bench/bench_analyze.py --quick      # 10k only
    .venv/bin/python bench/bench_analyze.py --repeats 5 --keep /tmp/histories
    .venv/bin/python bench/bench_analyze.py --quick --cases kv --formats jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_linearizable import inject_stale_read, simulate  # noqa: E402

from pyharness.history import Op  # noqa: E402
from pyharness.report.export import op_line  # noqa: E402

EXE = Path(sys.executable).parent / "pyharness"
KEYS = 10


def simulate_kv(n_ops: int, clients: int, seed: int) -> list[Op]:
    """A linearizable kv history: each op takes effect at a random step inside
    its interval, as in ``bench_linearizable.simulate``."""
    rng = random.Random(seed)
    store = {str(k): "" for k in range(KEYS)}
    ops: list[Op] = []
    slots: list[list[Any] | None] = [None] * clients  # [invoke, took effect?, result]
    invoked = busy = t = 0
    while invoked < n_ops or busy:
        w = rng.randrange(clients)
        slot = slots[w]
        t += 1
        if slot is None:
            if invoked >= n_ops:
                continue
            key = str(rng.randrange(KEYS))
            r = rng.random()
            f = "get" if r < 0.5 else "put" if r < 0.6 else "append"
            value = None if f == "get" else f"x {w} {invoked} y"
            inv = Op("invoke", f, value, w, t, extra={"key": key})
            slots[w] = [inv, False, None]
            ops.append(inv)
            invoked += 1
            busy += 1
        elif not slot[1]:
            inv = slot[0]
            key = inv.extra["key"]
            if inv.f == "get":
                slot[2] = store[key]
            elif inv.f == "put":
                store[key] = inv.value
            else:
                store[key] += inv.value
            slot[1] = True
        else:
            inv, _, res = slot
            value = res if inv.f == "get" else inv.value
            ops.append(Op("ok", inv.f, value, inv.process, t, extra={"key": inv.extra["key"]}))
            slots[w] = None
            busy -= 1
    for i, op in enumerate(ops):
        op.index = i
    return ops


def inject_impossible_get(ops: list[Op], rng: random.Random) -> None:
    """Make one get, in the middle half, return a value no order of the
    writes can produce: its own value with an append that never happened."""
    gets = [op for op in ops[len(ops) // 4: 3 * len(ops) // 4]
            if op.type == "ok" and op.f == "get"]
    rng.choice(gets).value += "x never y"


def _edn_value(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, list):
        return "[" + " ".join(_edn_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return str(v)


def write_formats(ops: list[Op], kv: bool, base: Path) -> dict[str, Path]:
    """The history in every format that can hold it: {format: path}."""
    out: dict[str, Path] = {}
    p = base.with_suffix(".jsonl")
    with p.open("w") as fh:
        for op in ops:
            fh.write(json.dumps(op.to_dict(), separators=(",", ":")) + "\n")
    out["jsonl"] = p
    p = base.with_suffix(".edn")
    with p.open("w") as fh:  # Jepsen's history.edn: one op map a line
        for op in ops:
            fh.write(op_line(op) + "\n")
    out["edn"] = p
    if kv:
        p = base.with_name(base.name + "-kv.txt")
        with p.open("w") as fh:
            for op in ops:
                fh.write(f"{{:process {op.process}, :type :{op.type}, :f :{op.f}, "
                         f":key {json.dumps(op.extra['key'])}, :value {_edn_value(op.value)}}}\n")
        out["porcupine-kv"] = p
    else:
        p = base.with_suffix(".log")
        with p.open("w") as fh:
            for op in ops:
                value = ":timed-out" if op.type == "info" else _edn_value(op.value)
                fh.write(f"INFO  jepsen.util - {op.process}\t:{op.type}\t:{op.f}\t{value}\n")
        out["jepsen-log"] = p
    return out


def parts(path: str) -> dict[str, Any]:
    """Read, then search, in this process: the times of each and the verdict."""
    from checkers.linearizable import checker_for
    from pyharness.history.formats import read_history

    t0 = time.perf_counter()
    loaded = read_history(path)
    t1 = time.perf_counter()
    res = checker_for(None, loaded.model_hint, loaded.options, 600).check({}, loaded.ops)
    t2 = time.perf_counter()
    return {"read": t1 - t0, "search": t2 - t1, "valid": res["valid?"], "ops": len(loaded.ops)}


def end_to_end(path: Path, out: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = subprocess.run([str(EXE), "analyze", str(path), "--out", str(out), "--time-limit",
                        "600"], capture_output=True, text=True)
    return time.perf_counter() - t0, r.returncode


def _mmm(xs: list[float]) -> str:
    return f"{min(xs):7.3f} {statistics.median(xs):7.3f} {max(xs):7.3f}"


ONLY_CASES: list[str] = []  # --cases
ONLY_FORMATS: list[str] = []  # --formats


def run_case(name: str, ops: list[Op], kv: bool, repeats: int, work: Path) -> None:
    if ONLY_CASES and not any(w in name for w in ONLY_CASES):
        return
    files = write_formats(ops, kv, work / name)
    for fmt, path in files.items():
        if ONLY_FORMATS and fmt not in ONLY_FORMATS:
            continue
        e2e, reads, searches = [], [], []
        codes, verdicts, lines = set(), set(), 0
        for _ in range(repeats):
            dt, code = end_to_end(path, work / "out")
            e2e.append(dt)
            codes.add(code)
            r = subprocess.run([sys.executable, __file__, "--parts", str(path)],
                               capture_output=True, text=True, check=True)
            p = json.loads(r.stdout)
            reads.append(p["read"])
            searches.append(p["search"])
            verdicts.add(str(p["valid"]))
            lines = p["ops"]
        print(f"{name:<22} {fmt:<12} {lines:>7} | {_mmm(e2e)} | {_mmm(reads)} | "
              f"{lines / statistics.median(reads):9.0f} | {_mmm(searches)} | "
              f"exit {','.join(map(str, sorted(codes)))} valid? {','.join(sorted(verdicts))}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only 10k ops")
    ap.add_argument("--sizes", type=int, nargs="+", help="ops per history (default 10k 100k)")
    ap.add_argument("--cases", help="only the cases whose name holds one of these "
                    "comma-separated words (e.g. kv,crash)")
    ap.add_argument("--formats", help="only these formats, comma-separated (jsonl, edn, "
                    "jepsen-log, porcupine-kv)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the histories here (default: a temp dir)")
    ap.add_argument("--parts", help=argparse.SUPPRESS)
    args = ap.parse_args()
    ONLY_CASES.extend(w for w in (args.cases or "").split(",") if w)
    ONLY_FORMATS.extend(w for w in (args.formats or "").split(",") if w)
    if args.parts:
        print(json.dumps(parts(args.parts)))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "out").mkdir(exist_ok=True)
    print(f"histories in {work}; times in seconds, min / median / max of {args.repeats}")
    print(f"{'case':<22} {'format':<12} {'ops':>7} | {'end to end':^23} | {'read':^23} | "
          f"{'read op/s':>9} | {'search':^23} | verdict")
    sizes = args.sizes or ([10_000] if args.quick else [10_000, 100_000])
    for n in sizes:
        ops = simulate(n, 5, 0.0, 1)
        size = f"{n // 1000}k" if n >= 1000 else str(n)
        run_case(f"cas {size} 5p", ops, False, args.repeats, work)
        stale = simulate(n, 5, 0.0, 1)
        inject_stale_read(stale, random.Random(1))
        run_case(f"cas {size} 5p stale", stale, False, args.repeats, work)
        run_case(f"cas {size} 20p crash1%", simulate(n, 20, 0.01, 1), False, args.repeats,
                 work)
        run_case(f"kv {size} 50c", simulate_kv(n, 50, 1), True, args.repeats, work)
        bad = simulate_kv(n, 50, 1)
        inject_impossible_get(bad, random.Random(1))
        run_case(f"kv {size} 50c bad", bad, True, args.repeats, work)


if __name__ == "__main__":
    main()
