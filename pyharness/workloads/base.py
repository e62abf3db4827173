"""A workload is a plain value: a client, the ops to run while faults come
and go, the ops to run after healing, and the checkers that judge them.

``async_client``, where a workload has one, does what ``client`` does as a
coroutine, for the event-loop engine (``--engine``): the same ops and the
same history, at more ops in flight per CPU.

A client written over the KV interface (:mod:`pyharness.etcd.kv`) is its
steps function wrapped in :class:`KVClient` and :class:`AsyncKVClient`: one
piece of logic for v2 and v3, on threads and on the event loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkers.core import Checker
    from pyharness.etcd.kv import KV, AsyncKV, Session
    from pyharness.gen.client import AsyncClient, Client, Steps
    from pyharness.gen.generator import Generator
    from pyharness.history import Op

    # A client's logic over the KV interface: one op as requests (see
    # pyharness.etcd.kv), for any API and either engine.
    KVSteps = Callable[[Session, Op], Steps]


@dataclass
class Workload:
    name: str
    client: Client
    generator: Generator
    final_generator: Generator | None = None
    checkers: list[Checker] = field(default_factory=list)
    async_client: AsyncClient | None = None


@dataclass(frozen=True)
class CheckerContext:
    """What ``analyze --checker NAME`` knows when it builds a workload's
    checker: where to write, the model asked for, the history's own hint and
    options (as its format gives them) and the time budget."""

    out_dir: Path | None
    model: str | None = None
    hint: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    time_limit: float | None = None


@dataclass
class KVClient:
    """A workload client whose logic is ``steps`` over the KV interface, sent
    by blocking on one member with ``api``'s backend. ``stale_ok`` lets
    reads be stale (v2 ``--no-quorum``); v3's ``--serializable`` does too."""

    steps: KVSteps
    api: str = "v2"
    stale_ok: bool = False
    kv: KV | None = None
    session: Session | None = None

    def open(self, test: Mapping[str, Any], node: str) -> KVClient:
        from pyharness.etcd.endpoints import open_kv, serializable
        from pyharness.etcd.kv import Session

        backend = open_kv(test, node, self.api)
        return KVClient(self.steps, self.api, self.stale_ok, backend,
                        Session(test["key_prefix"], self.stale_ok or serializable(test),
                                backend.classify))

    def close(self, test: Mapping[str, Any]) -> None:
        if self.kv is not None:
            self.kv.close()

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.gen.client import run_steps

        assert self.kv is not None and self.session is not None
        return run_steps(self.kv.do, self.steps(self.session, op))


@dataclass
class AsyncKVClient:
    """:class:`KVClient` on the event loop: the same steps, on v3."""

    steps: KVSteps
    kv: AsyncKV | None = None
    session: Session | None = None

    async def open(self, test: Mapping[str, Any], node: str) -> AsyncKVClient:
        from pyharness.etcd.endpoints import open_async_kv, serializable
        from pyharness.etcd.kv import Session

        backend = await open_async_kv(test, node)
        return AsyncKVClient(self.steps, backend,
                             Session(test["key_prefix"], serializable(test), backend.classify))

    async def close(self, test: Mapping[str, Any]) -> None:
        if self.kv is not None:
            await self.kv.close()

    async def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        from pyharness.gen.client import arun_steps

        assert self.kv is not None and self.session is not None
        return await arun_steps(self.kv.do, self.steps(self.session, op))
