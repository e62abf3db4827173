"""Compact printing of integer sets, the way Jepsen shows them.

A set checker's verdict is mostly sets of integers: thousands of acknowledged
adds, a handful lost. Printed element by element they drown the few values
that matter, so Jepsen folds runs of consecutive integers into ranges:
``#{0..55 57 60..62}`` means 0 through 55 inclusive, then 57, then 60, 61, 62.
The empty set is ``#{}``. The notation borrows Clojure's set literal ``#{...}``
with ``..`` for an inclusive range.

:func:`parse_intset` reads the same notation back, so tests can check that
nothing is lost in printing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def ranges(values: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Yield inclusive ``(lo, hi)`` runs of consecutive integers, ascending.

    Duplicates are dropped and the input may come in any order.
    """
    it = iter(sorted(set(values)))
    try:
        lo = hi = next(it)
    except StopIteration:
        return
    for v in it:
        if v == hi + 1:
            hi = v
            continue
        yield lo, hi
        lo = hi = v
    yield lo, hi


def format_intset(values: Iterable[int]) -> str:
    """``#{0..55 57 60..62}``; a run of two prints as two numbers, like Jepsen."""
    parts: list[str] = []
    for lo, hi in ranges(values):
        if lo == hi:
            parts.append(str(lo))
        elif hi == lo + 1:
            parts.append(f"{lo} {hi}")
        else:
            parts.append(f"{lo}..{hi}")
    return "#{" + " ".join(parts) + "}"


def parse_intset(text: str) -> set[int]:
    """Read what :func:`format_intset` prints. Raises ValueError otherwise."""
    s = text.strip()
    if not (s.startswith("#{") and s.endswith("}")):
        raise ValueError(f"not an intset literal: {text!r}")
    out: set[int] = set()
    # Split on whitespace and commas: Clojure treats commas as whitespace.
    for tok in s[2:-1].replace(",", " ").split():
        lo_s, sep, hi_s = tok.partition("..")
        lo = int(lo_s)
        hi = int(hi_s) if sep else lo
        if hi < lo:
            raise ValueError(f"descending range {tok!r} in {text!r}")
        out.update(range(lo, hi + 1))
    return out
