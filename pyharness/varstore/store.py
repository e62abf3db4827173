"""A store of single-assignment and lattice variables on etcd's compare-and-swap.

Each variable is one etcd key, ``<prefix>/<name>``, holding JSON
``{"type": T, "value": V}``. Three operations, after Lasp:

- ``declare(name, type)`` creates the key only if it is absent. Declaring
  an existing variable again with the same type is a no-op; with another type
  it is an error.
- ``bind(name, v)``: read the variable (a quorum read), compute the new state,
  and compare-and-swap it on the revision that was read. If another
  bind got there first the swap fails and had no effect, so the bind starts
  over from a fresh read (bounded by ``MAX_CAS_ATTEMPTS``). A
  single-assignment variable takes its first value; binding the same value
  again is ok, another value is :class:`Rebind`. A lattice variable takes the
  join of its state and ``v``; the store refuses to write a state that is not
  an inflation of both (:class:`NotInflation`), so a stored lattice state
  never moves down. A bind already covered by the state writes nothing.
- ``read(name, threshold=None, timeout)`` blocks until the variable is bound
  (single-assignment) or its state is at least ``threshold`` (lattice), then
  returns the state. It waits on a watch of the key, not by spinning, and
  gives up with :class:`ReadTimeout`.

The store speaks to etcd through the KV interface (:mod:`pyharness.etcd.kv`),
v2 or v3: the algorithm is the same on both.

A bind that cannot even read its variable raises :class:`Unavailable`: no
swap was sent, so it certainly had no effect (earlier swaps of the same bind
were all refused). A bind is split into :meth:`VarStore.start_bind` (the read) and
:meth:`VarStore.finish_bind` (the swap) so that a test can run two binds'
halves in a chosen order and hit the race CAS exists for every time.

Errors from etcd itself (timeouts, refused connections) are not caught here:
the caller decides, with :meth:`VarStore.classify`, whether the
operation may have happened. No request is ever retried behind its back
except a swap that etcd *definitely* refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyharness.etcd.kv import KV
from pyharness.etcd.triage import Triage
from pyharness.varstore import bugs
from pyharness.varstore.lattice import GSet, Lattice, lattice

MAX_CAS_ATTEMPTS = 20
WATCH_SLICE_S = 5.0  # longest single watch request; the loop re-reads after each


class VarStoreError(Exception):
    """A definite refusal by the store: the operation had no effect."""

    code = "varstore-error"


class NotDeclared(VarStoreError):
    code = "not-declared"


class TypeMismatch(VarStoreError):
    code = "type-mismatch"


class Rebind(VarStoreError):
    code = "rebind"


class NotInflation(VarStoreError):
    code = "not-inflation"


class TooManyConflicts(VarStoreError):
    code = "too-many-conflicts"


class ReadTimeout(VarStoreError):
    code = "read-timeout"


class Unavailable(VarStoreError):
    """A bind could not read its variable (etcd unreachable or slow). Nothing
    was written yet, so the bind certainly had no effect."""

    code = "unavailable"


@dataclass(frozen=True)
class PendingBind:
    """A bind that has read its variable and knows what it would write."""

    name: str
    value: Any
    type: str
    state: Any  # what was read
    new: Any  # what the bind would store
    index: int  # revision of the write that was read: the swap compares on it

    @property
    def writes(self) -> bool:
        return self.new != self.state


class DroppingGSet(GSet):
    """The ``join-drops-element`` bug: a G-Set join that loses an element."""

    def join(self, a: frozenset[int], b: frozenset[int]) -> frozenset[int]:
        u = a | b
        if u != a and u != b:
            return u - {max(u)}
        return u


class VarStore:
    """Variables under ``prefix`` through one backend (one etcd connection).
    Not thread-safe: give each thread its own store."""

    def __init__(self, backend: KV, prefix: str, bug: str | None = None) -> None:
        self.backend = backend
        self.prefix = prefix.rstrip("/")
        self.bug = bugs.check(bug)

    def classify(self, e: BaseException) -> Triage:
        """Did a failed etcd request certainly have no effect?"""
        return self.backend.classify(e)

    def close(self) -> None:
        self.backend.close()

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def lattice(self, type_name: str) -> Lattice:
        if self.bug == bugs.JOIN_DROPS_ELEMENT and type_name == "gset":
            return DroppingGSet()
        return lattice(type_name)

    # -- declare -----------------------------------------------------------

    def declare(self, name: str, type_name: str) -> None:
        lat = self.lattice(type_name)
        doc = json.dumps({"type": type_name, "value": lat.encode(lat.bottom())})
        if not self.backend.create(self.key(name), doc):
            existing, _, _ = self._get(name)
            if existing != type_name:
                raise TypeMismatch(f"{name} is declared as {existing}, not {type_name}")

    # -- bind --------------------------------------------------------------

    def bind(self, name: str, value: Any) -> Any:
        """Bind ``value`` (a canonical state of the variable's type); return
        the state the variable holds after the bind."""
        return self.finish_bind(self.start_bind(name, value))

    def start_bind(self, name: str, value: Any) -> PendingBind:
        try:
            type_name, state, index = self._get(name)
        except VarStoreError:
            raise
        except Exception as e:
            raise Unavailable(f"bind {name}: reading it failed: {type(e).__name__}: {e}") from e
        lat = self.lattice(type_name)
        if value is None or not lat.valid(value):
            raise TypeMismatch(f"{value!r} is not a {type_name} value")
        if type_name == "single":
            if state is None or state == value or self.bug == bugs.REBIND_ALLOWED:
                new = value
            else:
                raise Rebind(f"{name} is bound to {state!r}; cannot bind {value!r}")
        else:
            new = lat.join(state, value)
            if not (lat.leq(state, new) and lat.leq(value, new)):
                raise NotInflation(f"join of {state!r} and {value!r} gave {new!r}, "
                                   "which is not an inflation of both")
        return PendingBind(name, value, type_name, state, new, index)

    def finish_bind(self, pending: PendingBind) -> Any:
        p = pending
        for _attempt in range(MAX_CAS_ATTEMPTS):
            if not p.writes:
                return p.new
            lat = self.lattice(p.type)
            doc = json.dumps({"type": p.type, "value": lat.encode(p.new)})
            if self.bug == bugs.BIND_WITHOUT_CAS:
                self.backend.put(self.key(p.name), doc)
                return p.new
            if self.backend.swap(self.key(p.name), doc, p.index):
                return p.new
            # Another bind won the race; ours had no effect. Start over.
            p = self.start_bind(p.name, p.value)
        raise TooManyConflicts(f"bind {p.name}: {MAX_CAS_ATTEMPTS} compare-and-swaps lost")

    # -- read --------------------------------------------------------------

    def read(self, name: str, threshold: Any = None, timeout: float = 5.0,
             on_block: Callable[[], None] | None = None) -> Any:
        """The variable's state, once it is bound (single-assignment) or at
        least ``threshold`` (lattice). ``on_block`` is called once if the read
        has to wait, which lets a test bind only after the read is waiting."""
        deadline = time.monotonic() + timeout
        blocked = False
        while True:
            type_name, state, index = self._get(name)
            lat = self.lattice(type_name)
            if self.bug == bugs.EARLY_THRESHOLD_READ or _met(lat, state, threshold):
                return state
            if not blocked:
                blocked = True
                if on_block is not None:
                    on_block()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadTimeout(f"{name}: threshold {threshold!r} not met in {timeout}s "
                                  f"(state {state!r})")
            # Wait for the next change after the state just read (at once if
            # it changed in between); on a watch timeout, re-read and check
            # the deadline.
            self.backend.wait(self.key(name), index, min(remaining, WATCH_SLICE_S))

    # -- whole store -------------------------------------------------------

    def dump(self) -> dict[str, tuple[str, Any]]:
        """Every variable's type and state, in one quorum read."""
        out: dict[str, tuple[str, Any]] = {}
        for key, raw in self.backend.scan(self.prefix).items():
            doc = json.loads(raw)
            out[key.rsplit("/", 1)[-1]] = (
                doc["type"], self.lattice(doc["type"]).decode(doc["value"]))
        return out

    def drop(self) -> None:
        """Delete every variable under the prefix."""
        self.backend.drop(self.prefix)

    def _get(self, name: str) -> tuple[str, Any, int]:
        got = self.backend.get(self.key(name))
        if got is None:
            raise NotDeclared(f"{name} is not declared")
        doc = json.loads(got.value)
        return doc["type"], self.lattice(doc["type"]).decode(doc["value"]), got.revision


def _met(lat: Lattice, state: Any, threshold: Any) -> bool:
    if lat.name == "single" and state is None:
        return False
    return threshold is None or lat.leq(threshold, state)
