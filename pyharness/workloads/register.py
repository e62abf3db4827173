"""The register workload: read, write and compare-and-set on independent keys.

Client threads are split into groups; each group works on one key at a time
(Jepsen's independent generator), for ``--ops-per-key`` ops, then moves to a
fresh key. Values are small (0–4) so that writes collide and the checker has
something to judge. Op values in the history are ``[key, value]``; a cas's
value is ``[key, [expected, new]]``.

- ``read``: a quorum read by default; ``--no-quorum`` reads from the member's
  local state, which may be stale (the checker should catch that).
- ``write v``: set the key.
- ``cas [v v']``: set to v' if the key holds v (v2 ``prevValue``). "Compare
  failed" or "key not found" means it certainly did not happen: ``fail``.

A timeout is ``info`` for write and cas (it may still commit), ``fail`` for a
read (reads have no effect).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.etcd.triage import failed
from pyharness.gen import generator as g
from pyharness.history import OK, Op
from pyharness.options import Option, interval
from pyharness.workloads import GROUP
from pyharness.workloads.base import Workload

if TYPE_CHECKING:
    import etcd

VALUES = 5
ASYNC_APIS = ("v3",)  # an event-loop client: RegisterClientV3Async

OPTIONS = (
    Option("ops_per_key", "--ops-per-key", "int", interval(1, 1_000_000, integer=True),
           group=GROUP, default=100,
           help="register: ops on each key before its group moves on."),
    Option("no_quorum", "--no-quorum", "bool", group=GROUP, default=False,
           help="register: plain reads, which may be stale, instead of quorum reads."),
)


def check(opts: object) -> tuple[str, str] | None:
    """--no-quorum is v2's stale read; v3 spells it --serializable."""
    if getattr(opts, GROUP).get("no_quorum") and getattr(opts, "api", "v2") != "v2":
        return "no_quorum", "needs --api v2 (for v3 use --serializable)"
    return None


@dataclass
class RegisterClient:
    prefix: str = ""
    conn: etcd.Client | None = None
    quorum: bool = True

    def open(self, test: Mapping[str, Any], node: str) -> RegisterClient:
        from pyharness.etcd import v2 as etcd_v2
        from pyharness.etcd.endpoints import node_endpoint

        address, port = node_endpoint(test, node)
        return RegisterClient(prefix=f"{test['key_prefix']}/register",
                              conn=etcd_v2.connect(address, port, timeout=test["op_timeout"]),
                              quorum=self.quorum)

    def close(self, test: Mapping[str, Any]) -> None:
        if self.conn is not None:
            self.conn.http.clear()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        import etcd

        from pyharness.etcd import v2 as etcd_v2

        assert self.conn is not None
        key, arg = op.value
        path = f"{self.prefix}/{key}"
        try:
            if op.f == "read":
                try:
                    value: int | None = int(self.conn.read(path, quorum=self.quorum).value)
                except etcd.EtcdKeyNotFound:
                    value = None
                return op.completion(OK, value=[key, value])
            if op.f == "write":
                self.conn.write(path, str(arg))
                return op.completion(OK)
            if op.f == "cas":
                expected, new = arg
                self.conn.write(path, str(new), prevValue=str(expected))
                return op.completion(OK)
        except Exception as e:
            return failed(op, etcd_v2.classify(e), no_effect=op.f == "read")
        raise ValueError(f"register client: unknown f {op.f!r}")


def _ops(opts: Mapping[str, Any]) -> g.Generator:
    def r(ctx: g.Context) -> dict[str, Any]:
        return {"f": "read"}

    def w(ctx: g.Context) -> dict[str, Any]:
        return {"f": "write", "value": ctx.rng.randrange(VALUES)}

    def cas(ctx: g.Context) -> dict[str, Any]:
        return {"f": "cas", "value": [ctx.rng.randrange(VALUES), ctx.rng.randrange(VALUES)]}

    return g.mix(g.Fn(r), g.Fn(w), g.Fn(cas))


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.linearizable import Linearizable
    from pyharness.workloads.v3_clients import RegisterClientV3, RegisterClientV3Async

    per_key = int(opts.get("ops_per_key", 100))
    group = int(opts.get("key_group_size", 0)) or min(int(opts.get("concurrency", 10)), 5)
    return Workload(
        name="register",
        client=(RegisterClientV3() if opts.get("api") == "v3"
                else RegisterClient(quorum=not opts.get("no_quorum", False))),
        generator=g.independent(group, lambda _key: g.limit(per_key, _ops(opts))),
        final_generator=None,
        checkers=[Linearizable(model="cas-register", independent="tuple",
                               out_dir=opts.get("out_dir"))],
        async_client=RegisterClientV3Async() if opts.get("api") == "v3" else None,
    )
