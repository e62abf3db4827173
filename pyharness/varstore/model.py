"""The model: what a correct variable store does, one operation at a time.

Model-based testing compares a real system with a much simpler one that is
obviously right. Here the simple one is a dict from variable name to
``(type, state)``; each operation returns the :class:`Outcome` the store
must produce and the next model. It is the specification that both the
sequential state machine and the parallel linearizability search in
:mod:`pyharness.run.quickcheck` hold the real store to:

- ``declare`` succeeds unless the name is declared with another type;
- a single-assignment ``bind`` succeeds unless the variable holds another
  value (``rebind``); a lattice ``bind`` always succeeds and leaves the join;
- a ``read`` returns the state once the variable is bound (single) or at
  least the threshold (lattice); otherwise, being sequential, it can only
  time out (``read-timeout``).

Models are immutable, so a search can branch on them freely and use them as
keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyharness.varstore.lattice import lattice


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None  # a read's state, a bind's resulting state
    error: str | None = None  # a VarStoreError code when not ok

    def __str__(self) -> str:
        return f"ok {self.value!r}" if self.ok else f"error {self.error}"


@dataclass(frozen=True)
class Model:
    vars: Mapping[str, tuple[str, Any]] = field(default_factory=dict)

    def type_of(self, name: str) -> str | None:
        v = self.vars.get(name)
        return v[0] if v else None

    def state(self, name: str) -> Any:
        return self.vars[name][1]

    def _with(self, name: str, type_name: str, state: Any) -> Model:
        return Model({**self.vars, name: (type_name, state)})

    def declare(self, name: str, type_name: str) -> tuple[Outcome, Model]:
        existing = self.type_of(name)
        if existing is None:
            return Outcome(True), self._with(name, type_name, lattice(type_name).bottom())
        if existing != type_name:
            return Outcome(False, error="type-mismatch"), self
        return Outcome(True), self

    def bind(self, name: str, value: Any) -> tuple[Outcome, Model]:
        type_name = self.type_of(name)
        if type_name is None:
            return Outcome(False, error="not-declared"), self
        lat, state = lattice(type_name), self.state(name)
        if value is None or not lat.valid(value):
            return Outcome(False, error="type-mismatch"), self
        if type_name == "single" and state is not None and state != value:
            return Outcome(False, error="rebind"), self
        new = lat.join(state, value)
        return Outcome(True, new), self._with(name, type_name, new)

    def read(self, name: str, threshold: Any = None) -> Outcome:
        type_name = self.type_of(name)
        if type_name is None:
            return Outcome(False, error="not-declared")
        lat, state = lattice(type_name), self.state(name)
        if type_name == "single" and state is None:
            return Outcome(False, error="read-timeout")
        if threshold is not None and not lat.leq(threshold, state):
            return Outcome(False, error="read-timeout")
        return Outcome(True, state)

    def key(self) -> str:
        """A canonical string, for memoising searches over models."""
        return json.dumps({n: [t, lattice(t).encode(s)] for n, (t, s) in self.vars.items()},
                          sort_keys=True)
