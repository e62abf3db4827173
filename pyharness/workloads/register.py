"""The register workload: read, write and compare-and-set on independent keys.

Client threads are split into groups; each group works on one key at a time
(Jepsen's independent generator), for ``--ops-per-key`` ops, then moves to a
fresh key. Values are small (0–4) so that writes collide and the checker has
something to judge. Op values in the history are ``[key, value]``; a cas's
value is ``[key, [expected, new]]``.

- ``read``: a linearizable read by default; ``--no-quorum`` (v2) and
  ``--serializable`` (v3) read from the member's local state, which may be
  stale (the checker should catch that).
- ``write v``: set the key.
- ``cas [v v']``: set to v' if the key holds v (v2 ``prevValue``, a v3
  transaction on the value). "Compare failed" or "key not found" means it
  certainly did not happen: ``fail``.

The client is written once over the KV interface (:mod:`pyharness.etcd.kv`).

A timeout is ``info`` for write and cas (it may still commit), ``fail`` for a
read (reads have no effect).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyharness.etcd import kv
from pyharness.etcd.triage import failed
from pyharness.gen import generator as g
from pyharness.history import FAIL, OK, Op
from pyharness.options import Option, interval, parsed_by
from pyharness.workloads import GROUP
from pyharness.workloads.base import AsyncKVClient, KVClient, Workload

if TYPE_CHECKING:
    from pyharness.etcd.kv import Session
    from pyharness.gen.client import Steps

VALUES = 5
ASYNC_APIS = ("v3",)  # an event-loop client on v3

OPTIONS = (
    Option("ops_per_key", "--ops-per-key", "int", interval(1, 1_000_000, integer=True),
           group=GROUP, default=100,
           help="register: ops on each key before its group moves on."),
    Option("no_quorum", "--no-quorum", "bool", group=GROUP, default=False,
           help="register: plain reads, which may be stale, instead of quorum reads."),
    Option("mix", "--mix", "str", parsed_by(lambda v: parse_mix(v)), group=GROUP,
           default="1:1:1",
           help="register: relative weights of read, write and cas, as R:W:C "
                "(1:0:4 is cas-heavy: each cas is a transaction with a compare)."),
)


def parse_mix(text: str) -> tuple[int, int, int]:
    """``R:W:C`` -> weights of read, write and cas; whole numbers 0-100, not all 0."""
    parts = str(text).split(":")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise ValueError("three whole numbers as READ:WRITE:CAS, e.g. 1:1:1")
    weights = tuple(int(p) for p in parts)
    if max(weights) > 100 or not any(weights):
        raise ValueError("weights 0-100 as READ:WRITE:CAS, not all 0")
    return weights  # type: ignore[return-value]


def check(opts: object) -> tuple[str, str] | None:
    """--no-quorum is v2's stale read; v3 spells it --serializable."""
    if getattr(opts, GROUP).get("no_quorum") and getattr(opts, "api", "v2") != "v2":
        return "no_quorum", "needs --api v2 (for v3 use --serializable)"
    return None


def steps(s: Session, op: Op) -> Steps:
    """One read, write or cas as KV requests; the same for v2 and v3."""
    key, arg = op.value
    path = f"{s.key_prefix}/register/{key}"
    try:
        if op.f == "read":
            entry = yield kv.Get(path, s.stale_ok)
            return op.completion(OK, value=[key, None if entry is None else int(entry.value)])
        if op.f == "write":
            yield kv.Put(path, str(arg))
            return op.completion(OK)
        if op.f == "cas":
            expected, new = arg
            if (yield kv.SwapValue(path, str(expected), str(new))):
                return op.completion(OK)
            return op.completion(FAIL, error=["compare-failed"])
    except Exception as e:
        return failed(op, s.classify(e), no_effect=op.f == "read")
    raise ValueError(f"register client: unknown f {op.f!r}")


def _ops(opts: Mapping[str, Any]) -> g.Generator:
    def r(ctx: g.Context) -> dict[str, Any]:
        return {"f": "read"}

    def w(ctx: g.Context) -> dict[str, Any]:
        return {"f": "write", "value": g.pick(ctx.rng, VALUES)}

    def cas(ctx: g.Context) -> dict[str, Any]:
        return {"f": "cas", "value": [g.pick(ctx.rng, VALUES), g.pick(ctx.rng, VALUES)]}

    weights = parse_mix(opts.get("mix", "1:1:1"))
    return g.mix(*[g.Fn(fn) for fn, n in zip((r, w, cas), weights, strict=True)
                   for _ in range(n)])


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.linearizable import Linearizable

    per_key = int(opts.get("ops_per_key", 100))
    group = int(opts.get("key_group_size", 0)) or min(int(opts.get("concurrency", 10)), 5)
    api = opts.get("api") or "v2"
    return Workload(
        name="register",
        client=KVClient(steps, api, stale_ok=bool(opts.get("no_quorum", False))),
        generator=g.independent(group, lambda _key: g.limit(per_key, _ops(opts))),
        final_generator=None,
        checkers=[Linearizable(model="cas-register", independent="tuple",
                               out_dir=opts.get("out_dir"))],
        async_client=AsyncKVClient(steps) if api == "v3" else None,
    )
