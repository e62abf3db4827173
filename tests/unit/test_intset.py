"""Compact intset notation: known renderings and lossless round trips."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkers.intset import format_intset, parse_intset, ranges


def test_empty() -> None:
    assert format_intset([]) == "#{}"
    assert parse_intset("#{}") == set()


def test_runs_pairs_and_singletons() -> None:
    vals = [*range(56), 57, 60, 61, 62, 70, 71]
    assert format_intset(vals) == "#{0..55 57 60..62 70 71}"


def test_unsorted_and_duplicates() -> None:
    assert format_intset([5, 3, 4, 3, 9, 5]) == "#{3..5 9}"


def test_negative_numbers() -> None:
    assert format_intset([-3, -2, -1, 1]) == "#{-3..-1 1}"
    assert parse_intset("#{-3..-1 1}") == {-3, -2, -1, 1}


def test_parse_accepts_commas() -> None:
    assert parse_intset("#{1, 2, 4..6}") == {1, 2, 4, 5, 6}


@pytest.mark.parametrize("bad", ["{1 2}", "#{1..x}", "#{5..3}", "1..2"])
def test_parse_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_intset(bad)


@given(st.sets(st.integers(min_value=-1000, max_value=1000)))
def test_round_trip(vals: set[int]) -> None:
    assert parse_intset(format_intset(vals)) == vals


@given(st.lists(st.integers(min_value=-50, max_value=50)))
def test_ranges_are_maximal_and_disjoint(vals: list[int]) -> None:
    rs = list(ranges(vals))
    covered = [v for lo, hi in rs for v in range(lo, hi + 1)]
    assert covered == sorted(set(vals))
    # Maximal: consecutive runs never touch, or they would have been merged.
    assert all(b[0] > a[1] + 1 for a, b in pairwise(rs))
