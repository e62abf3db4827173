"""The varstore workload: Lasp-style variables under faults.

Clients declare, bind and read variables of :mod:`pyharness.varstore`
(etcd keys under ``<key_prefix>/varstore``) while the nemesis partitions or
kills nodes; :class:`checkers.varstore.VarStoreChecker` judges the history.

Variables:

- ``s0`` … ``s{N-1}``: single-assignment. Clients bind random small values,
  so binds race and all but one value must be refused as rebinds;
- ``g``: a G-Set. Each bind adds a fresh integer, so, as in the set
  workload, a lost bind is visible as a missing element;
- ``c``: a G-Counter. Bind ``n`` sets replica ``r{n mod 5}`` to ``n // 5 + 1``
  (replica counts only rise over the run);
- ``m``: a max-register. Bind ``n`` binds ``n``.

Reads are plain or with a threshold (low, so usually met; a read whose
threshold is not met in ``read_timeout`` seconds fails, having no effect).
Every variable is declared first (declaring again is a no-op), and read in
the final phase after the faults heal, so the checker can tell lost binds.

Outcomes follow :mod:`pyharness.varstore.ops`: a bind whose swap timed out
is ``info`` (it may still commit), any failed read is ``fail``.
``--store-bug NAME`` (``options["store_bug"]``) runs the store with a known
bug; ``bind-without-cas`` loses updates under concurrency. ``--api v2|v3``
(``options["api"]``) chooses the etcd API the store speaks; TLS and auth
options apply on v3 as for the other workloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyharness.gen import generator as g
from pyharness.history import Op
from pyharness.options import Option, one_of
from pyharness.workloads import GROUP
from pyharness.workloads.base import Workload

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyharness.varstore.store import VarStore


SINGLES = 10
SINGLE_VALUES = 3
REPLICAS = 5
READ_TIMEOUT = 1.0


def _store_bugs() -> Sequence[str]:
    from pyharness.varstore.bugs import BUGS
    return BUGS


OPTIONS = (
    Option("store_bug", "--store-bug", "str", one_of(_store_bugs), nullable=True, group=GROUP,
           help="varstore: switch on a known store bug, to see the checker catch it."),
)


def variables(singles: int = SINGLES) -> dict[str, str]:
    """Variable name -> type."""
    return {**{f"s{i}": "single" for i in range(singles)},
            "g": "gset", "c": "gcounter", "m": "max"}


@dataclass
class VarStoreClient:
    types: Mapping[str, str] = field(default_factory=variables)
    store: VarStore | None = None
    read_timeout: float = READ_TIMEOUT
    bug: str | None = None  # --store-bug

    def open(self, test: Mapping[str, Any], node: str) -> VarStoreClient:
        from pyharness.etcd.endpoints import open_kv
        from pyharness.varstore import bugs
        from pyharness.varstore.store import VarStore

        backend = open_kv(test, node)
        return VarStoreClient(self.types,
                              VarStore(backend, f"{test['key_prefix']}/varstore",
                                       bugs.check(self.bug)),
                              self.read_timeout, self.bug)

    def close(self, test: Mapping[str, Any]) -> None:
        if self.store is not None:
            self.store.close()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.varstore.ops import perform

        assert self.store is not None
        return perform(self.store, op, self.types, self.read_timeout)


def _declare(name: str, type_name: str) -> dict[str, Any]:
    return {"f": "declare", "value": [name, type_name]}


def _ops(types: Mapping[str, str]) -> g.Generator:
    singles = sorted(n for n, t in types.items() if t == "single")

    def bind_single(ctx: g.Context) -> dict[str, Any]:
        return {"f": "bind", "value": [ctx.rng.choice(singles),
                                        ctx.rng.randrange(SINGLE_VALUES)]}

    def read_any(ctx: g.Context) -> dict[str, Any]:
        name = ctx.rng.choice(sorted(types))
        threshold: Any = None
        if ctx.rng.random() < 0.5:  # a low threshold: usually met, so the read returns
            threshold = {"gset": [ctx.rng.randrange(3)],
                         "gcounter": {f"r{ctx.rng.randrange(REPLICAS)}": 1},
                         "max": ctx.rng.randrange(5), "single": None}[types[name]]
        return {"f": "read", "value": [name, threshold]}

    def redeclare(ctx: g.Context) -> dict[str, Any]:
        name = ctx.rng.choice(sorted(types))
        return _declare(name, types[name])

    return g.mix(
        g.Iterate(lambda n: {"f": "bind", "value": ["g", [n]]}),
        g.Iterate(lambda n: {"f": "bind",
                             "value": ["c", {f"r{n % REPLICAS}": n // REPLICAS + 1}]}),
        g.Iterate(lambda n: {"f": "bind", "value": ["m", n]}),
        g.Fn(bind_single), g.Fn(bind_single),
        g.Fn(read_any), g.Fn(read_any),
        g.limit(20, g.Fn(redeclare)),
    )


def _final_reads(types: Mapping[str, str], attempts: int) -> g.Generator:
    # Unbound single-assignment variables cannot be read; two tries will do.
    return g.seq(*(g.until_ok(g.limit(attempts if t != "single" else 2,
                                      g.repeat({"f": "read", "value": [n, None]})))
                   for n, t in sorted(types.items())))


def workload(opts: Mapping[str, Any]) -> Workload:
    from checkers.varstore import VarStoreChecker
    from pyharness.varstore import bugs

    types = variables(int(opts.get("varstore_singles", SINGLES)))
    bug = bugs.check(opts.get("store_bug"))
    declares = g.seq(*(_declare(n, t) for n, t in sorted(types.items())))
    return Workload(
        name="varstore",
        client=VarStoreClient(types, bug=bug),
        generator=g.phases(declares, _ops(types)),
        final_generator=_final_reads(types, int(opts.get("final_read_attempts", 5))),
        checkers=[VarStoreChecker()],
    )
