"""The small key-value interface that both of etcd's APIs implement.

A workload's client is written once, against this interface, and runs on
v2 (:mod:`pyharness.etcd.kv_v2`) or v3 (:mod:`pyharness.etcd.kv_v3`), on
threads or on the event loop. What a client asks of etcd is one of a few
requests, as plain values:

- :class:`Get`: one key's value and the revision of its last write (v2's
  ``modifiedIndex``, v3's ``mod_revision``), or None when it is absent.
  ``stale_ok`` lets the member answer from its own state: v2's plain read,
  v3's serializable read. Otherwise the read is linearizable.
- :class:`Put`: write unconditionally.
- :class:`Create`: write if the key is absent. :class:`Swap`: write if the
  key's last write is still ``revision``. Both answer :class:`Swapped`.
- :class:`SwapValue`: write if the key holds ``expected``; answers a bool.
- :class:`Wait`, :class:`Scan`, :class:`Drop`: block until a key changes,
  read or delete every key under a prefix (blocking backends only).

A client's logic is a generator of *steps*: it yields a request and gets
the answer back, or has the request's exception thrown in at the yield,
where it asks the backend's ``classify`` whether the request certainly had
no effect (:mod:`pyharness.etcd.triage`). A :class:`KV` runs the steps by
blocking, an :class:`AsyncKV` on the event loop; the logic never knows which
API or engine it runs on, as a Porcupine model never knows its search.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pyharness.etcd.triage import Triage

Classify = Callable[[BaseException], Triage]


@dataclass(frozen=True)
class Entry:
    value: str
    revision: int  # of the key's last write


@dataclass(frozen=True)
class Get:
    key: str
    stale_ok: bool = False


@dataclass(frozen=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True)
class Create:
    key: str
    value: str


@dataclass(frozen=True)
class Swap:
    key: str
    value: str
    revision: int


@dataclass(frozen=True)
class SwapValue:
    key: str
    expected: str
    value: str


@dataclass(frozen=True)
class Wait:
    key: str
    revision: int
    timeout: float


@dataclass(frozen=True)
class Scan:
    prefix: str


@dataclass(frozen=True)
class Drop:
    prefix: str


Request = Get | Put | Create | Swap | SwapValue | Wait | Scan | Drop


@dataclass(frozen=True)
class Swapped:
    """A :class:`Create` or :class:`Swap`'s answer. When it did not write,
    ``known`` says whether ``current`` is the key's state at the failed
    compare (v3 reads it in the same transaction; v2 cannot, so the caller
    reads again)."""

    succeeded: bool
    current: Entry | None = None
    known: bool = False


class KV(ABC):
    """A blocking backend bound to one member. Each ``do`` sends one request
    (a :class:`Wait` holds one stream open) and raises on any error; nothing
    is retried. The methods below are the same requests spelled as calls,
    for code that does not need to run on the event loop too."""

    @abstractmethod
    def do(self, request: Request) -> Any: ...

    @abstractmethod
    def classify(self, e: BaseException) -> Triage: ...

    @abstractmethod
    def close(self) -> None: ...

    def get(self, key: str, stale_ok: bool = False) -> Entry | None:
        return self.do(Get(key, stale_ok))  # type: ignore[no-any-return]

    def put(self, key: str, value: str) -> None:
        self.do(Put(key, value))

    def create(self, key: str, value: str) -> bool:
        """Write ``value`` if ``key`` is absent; False (and no write) if present."""
        return bool(self.do(Create(key, value)).succeeded)

    def swap(self, key: str, value: str, revision: int) -> bool:
        """Write ``value`` if the key's last write is still ``revision``."""
        return bool(self.do(Swap(key, value, revision)).succeeded)

    def wait(self, key: str, revision: int, timeout: float) -> None:
        """Return once ``key`` was written after ``revision`` (at once if it
        already was), or after ``timeout`` seconds."""
        self.do(Wait(key, revision, timeout))

    def scan(self, prefix: str) -> dict[str, str]:
        """Key -> value for every key under ``prefix/``, in one read."""
        return self.do(Scan(prefix))  # type: ignore[no-any-return]

    def drop(self, prefix: str) -> None:
        """Delete every key under ``prefix/``."""
        self.do(Drop(prefix))


class AsyncKV(Protocol):
    """:class:`KV`'s ``do`` as a coroutine, for the event-loop engine."""

    async def do(self, request: Request) -> Any: ...

    def classify(self, e: BaseException) -> Triage: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Session:
    """What a client's steps know of where they run: the test's key prefix,
    whether reads may be stale, and the backend's triage."""

    key_prefix: str
    stale_ok: bool
    classify: Classify
