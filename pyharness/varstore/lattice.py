"""Lattices: values that only grow, and merge without coordination.

A join-semilattice is a set of states with a partial order ``leq`` and a
``join`` (least upper bound) that is commutative, associative and idempotent.
Lasp (first called Derflow) stores such values: binding a lattice variable
never overwrites it, it *joins* the new value in, so the stored state only
*inflates* (moves up the order). Two replicas that saw the same binds in any
order, any number of times, end in the same state.

Types here, each with a ``bottom`` (the state of a fresh variable):

- ``gset``: grow-only set of ints; join is union, order is inclusion.
- ``gcounter``: grow-only counter, a map replica -> count; join is the
  pointwise max, order is pointwise ``<=``; its value is the sum.
- ``max``: max-register, an int; join is ``max``.
- ``single``: a single-assignment variable seen as the *flat* lattice:
  unbound (``None``) below every value, distinct values incomparable. Its
  join of two different values does not exist (:class:`Conflict`), which is
  why a rebind to another value is an error.

States are kept in canonical Python forms (``frozenset``, a ``dict`` without
zero entries, ``int``) and cross etcd and histories as JSON (:meth:`encode`,
:meth:`decode`), so equality of states is equality of values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Conflict(ValueError):
    """Two single-assignment values that have no join."""


class Lattice(Protocol):
    name: str

    def bottom(self) -> Any: ...

    def join(self, a: Any, b: Any) -> Any: ...

    def leq(self, a: Any, b: Any) -> bool:
        """``a <= b``: b is an inflation of a."""
        ...

    def valid(self, v: Any) -> bool:
        """Is ``v`` (in canonical form) a state of this lattice?"""
        ...

    def encode(self, v: Any) -> Any:
        """A JSON value for ``v``."""
        ...

    def decode(self, j: Any) -> Any:
        """The canonical state for a JSON value; raises ValueError if ``j``
        is not one of this lattice's states."""
        ...


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class GSet:
    name: str = "gset"

    def bottom(self) -> frozenset[int]:
        return frozenset()

    def join(self, a: frozenset[int], b: frozenset[int]) -> frozenset[int]:
        return a | b

    def leq(self, a: frozenset[int], b: frozenset[int]) -> bool:
        return a <= b

    def valid(self, v: Any) -> bool:
        return isinstance(v, frozenset) and all(_is_int(x) for x in v)

    def encode(self, v: frozenset[int]) -> list[int]:
        return sorted(v)

    def decode(self, j: Any) -> frozenset[int]:
        if not isinstance(j, list | tuple | set | frozenset) or not all(_is_int(x) for x in j):
            raise ValueError(f"gset: expected a list of ints, got {j!r}")
        return frozenset(j)


@dataclass(frozen=True)
class GCounter:
    name: str = "gcounter"

    def bottom(self) -> dict[str, int]:
        return {}

    def join(self, a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
        return {r: max(a.get(r, 0), b.get(r, 0)) for r in sorted(a.keys() | b.keys())}

    def leq(self, a: Mapping[str, int], b: Mapping[str, int]) -> bool:
        return all(n <= b.get(r, 0) for r, n in a.items())

    def valid(self, v: Any) -> bool:
        # Zero entries are left out so that equal counters are equal dicts.
        return isinstance(v, dict) and all(
            isinstance(r, str) and _is_int(n) and n > 0 for r, n in v.items())

    def encode(self, v: Mapping[str, int]) -> dict[str, int]:
        return dict(sorted(v.items()))

    def decode(self, j: Any) -> dict[str, int]:
        if not isinstance(j, Mapping) or not all(
                isinstance(r, str) and _is_int(n) and n >= 0 for r, n in j.items()):
            raise ValueError(f"gcounter: expected a map of replica -> count >= 0, got {j!r}")
        return {r: n for r, n in sorted(j.items()) if n > 0}

    @staticmethod
    def total(v: Mapping[str, int]) -> int:
        return sum(v.values())


@dataclass(frozen=True)
class MaxRegister:
    name: str = "max"

    def bottom(self) -> int:
        return 0

    def join(self, a: int, b: int) -> int:
        return max(a, b)

    def leq(self, a: int, b: int) -> bool:
        return a <= b

    def valid(self, v: Any) -> bool:
        return _is_int(v) and v >= 0

    def encode(self, v: int) -> int:
        return v

    def decode(self, j: Any) -> int:
        if not _is_int(j) or j < 0:
            raise ValueError(f"max: expected an int >= 0, got {j!r}")
        return int(j)


@dataclass(frozen=True)
class Single:
    """The flat lattice of a single-assignment variable (``None`` = unbound)."""

    name: str = "single"

    def bottom(self) -> None:
        return None

    def join(self, a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None or a == b:
            return a
        raise Conflict(f"single-assignment values {a!r} and {b!r} have no join")

    def leq(self, a: Any, b: Any) -> bool:
        return a is None or a == b

    def valid(self, v: Any) -> bool:
        return v is None or _is_int(v)

    def encode(self, v: Any) -> Any:
        return v

    def decode(self, j: Any) -> Any:
        if not self.valid(j):
            raise ValueError(f"single: expected an int or null, got {j!r}")
        return j


GSET, GCOUNTER, MAX, SINGLE = GSet(), GCounter(), MaxRegister(), Single()
TYPES: dict[str, Lattice] = {t.name: t for t in (GSET, GCOUNTER, MAX, SINGLE)}
LATTICES: tuple[Lattice, ...] = (GSET, GCOUNTER, MAX)  # the ones whose join is total


def lattice(type_name: str) -> Lattice:
    try:
        return TYPES[type_name]
    except KeyError:
        raise ValueError(f"unknown variable type {type_name!r}; "
                         f"expected one of {', '.join(sorted(TYPES))}") from None


def join_all(lat: Lattice, values: Any) -> Any:
    acc = lat.bottom()
    for v in values:
        acc = lat.join(acc, v)
    return acc
