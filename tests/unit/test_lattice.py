"""Lattice laws, checked by Hypothesis on every lattice type.

A join-semilattice needs a join that is commutative, associative and
idempotent, and an order (inflation) that is a partial order agreeing with
the join: ``a <= b`` iff ``a ⊔ b == b``. Replicas that merge in any order
converge only if these hold.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from pyharness.varstore.lattice import GCOUNTER, GSET, MAX, SINGLE, Conflict, Lattice, join_all
from pyharness.varstore.store import DroppingGSet

STATES: dict[str, st.SearchStrategy[Any]] = {
    "gset": st.frozensets(st.integers(-5, 5), max_size=6),
    "gcounter": st.dictionaries(st.sampled_from(["r0", "r1", "r2", "r3"]), st.integers(1, 6),
                                max_size=4),
    "max": st.integers(0, 20),
}
LATTICES = [GSET, GCOUNTER, MAX]
ids = [lat.name for lat in LATTICES]


def triples(lat: Lattice) -> st.SearchStrategy[tuple[Any, Any, Any]]:
    s = STATES[lat.name]
    return st.tuples(s, s, s)


@pytest.mark.parametrize("lat", LATTICES, ids=ids)
def test_join_is_commutative_associative_idempotent(lat: Lattice) -> None:
    @given(triples(lat))
    def laws(abc: tuple[Any, Any, Any]) -> None:
        a, b, c = abc
        assert lat.join(a, b) == lat.join(b, a)
        assert lat.join(lat.join(a, b), c) == lat.join(a, lat.join(b, c))
        assert lat.join(a, a) == a
        assert lat.join(a, lat.bottom()) == a
    laws()


@pytest.mark.parametrize("lat", LATTICES, ids=ids)
def test_inflation_is_a_partial_order_that_agrees_with_join(lat: Lattice) -> None:
    @given(triples(lat))
    def laws(abc: tuple[Any, Any, Any]) -> None:
        a, b, c = abc
        assert lat.leq(a, a)  # reflexive
        if lat.leq(a, b) and lat.leq(b, a):
            assert a == b  # antisymmetric
        if lat.leq(a, b) and lat.leq(b, c):
            assert lat.leq(a, c)  # transitive
        j = lat.join(a, b)
        assert lat.leq(a, j) and lat.leq(b, j)  # an upper bound ...
        if lat.leq(a, c) and lat.leq(b, c):
            assert lat.leq(j, c)  # ... and the least one
        assert lat.leq(a, b) == (j == b)
        assert lat.leq(lat.bottom(), a)
    laws()


@pytest.mark.parametrize("lat", LATTICES, ids=ids)
def test_states_survive_json(lat: Lattice) -> None:
    @given(STATES[lat.name])
    def roundtrip(a: Any) -> None:
        assert lat.valid(a)
        assert lat.decode(lat.encode(a)) == a
    roundtrip()


def test_single_assignment_is_the_flat_lattice() -> None:
    @given(st.none() | st.integers(0, 3), st.none() | st.integers(0, 3))
    def laws(a: Any, b: Any) -> None:
        assert SINGLE.leq(None, a)
        if a is not None and b is not None and a != b:
            assert not SINGLE.leq(a, b)
            with pytest.raises(Conflict):
                SINGLE.join(a, b)
        else:
            assert SINGLE.join(a, b) == SINGLE.join(b, a)
            assert SINGLE.leq(a, SINGLE.join(a, b))
    laws()


def test_gcounter_total_is_the_sum_and_only_grows() -> None:
    @given(STATES["gcounter"], STATES["gcounter"])
    def grows(a: dict[str, int], b: dict[str, int]) -> None:
        j = GCOUNTER.join(a, b)
        assert GCOUNTER.total(j) >= max(GCOUNTER.total(a), GCOUNTER.total(b))
    grows()


def test_join_all_folds_from_bottom() -> None:
    assert join_all(GSET, []) == frozenset()
    assert join_all(GSET, [frozenset({1}), frozenset({2}), frozenset({1})]) == {1, 2}
    assert join_all(MAX, [3, 1, 2]) == 3


def test_the_laws_catch_a_join_that_drops_an_element() -> None:
    """The join-drops-element bug breaks the upper-bound law, and Hypothesis
    finds a small witness of it: the laws above have teeth."""
    bad = DroppingGSet()
    s = STATES["gset"]
    a, b = find(st.tuples(s, s),
                lambda ab: not (bad.leq(ab[0], bad.join(*ab)) and bad.leq(ab[1], bad.join(*ab))))
    assert len(a) + len(b) == 2  # shrunk to one element on each side
    assert not bad.leq(b, bad.join(a, b)) or not bad.leq(a, bad.join(a, b))


def test_decode_rejects_values_of_another_type() -> None:
    with pytest.raises(ValueError):
        GSET.decode({"r0": 1})
    with pytest.raises(ValueError):
        GCOUNTER.decode([1, 2])
    with pytest.raises(ValueError):
        MAX.decode(-1)
    assert not GCOUNTER.valid({"r0": 0})  # zero entries are not canonical
