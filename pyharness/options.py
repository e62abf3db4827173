"""Typed options: one description per option, from which its flag, its
scenario key, its check and (for a fault's options) its ``--help`` derive.

Cheap to import: the command line builds its ``--help`` from these.
``allowed`` returns None for a good value, else what was expected, for the
one-line error "FLAG must be EXPECTED, got VALUE".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TC_RATE = re.compile(r"^(\d+(\.\d*)?|\.\d+)([kmgt]i?)?(bit|bps)$", re.IGNORECASE)
TC_TIME = re.compile(r"^(\d+(\.\d*)?|\.\d+)(s|secs?|ms|msecs?|us|usecs?)$", re.IGNORECASE)
RATE_UNITS = "bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps, tbps, or kibit, mibit..."
TIME_UNITS = "s, ms, us"


@dataclass(frozen=True)
class Option:
    """One option of ``pyharness test``: its flag, its type and what it allows.

    ``kind`` is int, float, str, bool or path; ``allowed`` returns None for a
    good value, else what was expected (for "FLAG must be EXPECTED, got V").
    A scenario file spells the option as ``flag`` without its dashes."""

    field: str
    flag: str
    kind: str
    allowed: Callable[[Any], str | None] = lambda v: None
    nullable: bool = False
    invert: bool = False  # a --no-X flag: the field holds the opposite
    # Where the value lives: None, a field of TestOptions; "faults", a key of
    # TestOptions.faults (a fault's own option, declared with its fault).
    group: str | None = None
    default: Any = None  # for grouped options (TestOptions' fields carry their own)
    help: str = ""  # for grouped options: the CLI's --help text

    def get(self, opts: Any) -> Any:
        """This option's value in ``opts`` (a TestOptions)."""
        if self.group is None:
            return getattr(opts, self.field)
        return getattr(opts, self.group).get(self.field, self.default)

    @property
    def key(self) -> str:
        return self.flag[2:]

    def expected(self, value: Any) -> str | None:
        """None if ``value`` is of this option's type and range, else what was expected."""
        if value is None:
            return None if self.nullable else f"{KIND_WORDS[self.kind]}, not empty"
        ok_type = {"int": isinstance(value, int) and not isinstance(value, bool),
                   "float": isinstance(value, int | float) and not isinstance(value, bool),
                   "str": isinstance(value, str),
                   "bool": isinstance(value, bool),
                   "path": isinstance(value, Path)}[self.kind]
        if not ok_type:
            return KIND_WORDS[self.kind]
        return self.allowed(value)


def distinct(options: Sequence[Option]) -> tuple[Option, ...]:
    """``options``, once it is sure that no two share a field or a flag: a
    workload's or a fault's option named like one of the run's own would
    silently shadow it in flags, scenario keys and ``test.json``."""
    seen: dict[str, Option] = {}
    for o in options:
        for name in (o.field, o.flag):
            if name in seen:
                raise ValueError(f"option {o.flag} ({o.group or 'run'}) clashes with "
                                 f"{seen[name].flag} ({seen[name].group or 'run'})")
            seen[name] = o
    return tuple(options)


KIND_WORDS = {"int": "an integer", "float": "a number", "str": "a string",
               "bool": "true or false", "path": "a path"}


def interval(lo: float, hi: float, lo_open: bool = False, what: str = "a number",
              integer: bool = False, hi_text: str | None = None) -> Callable[[Any], str | None]:
    if integer:
        text = f"an integer from {lo} to {hi_text or hi}"
    else:
        text = f"{what} in {'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def allowed(v: float) -> str | None:
        inside = math.isfinite(v) and (lo < v if lo_open else lo <= v) and v <= hi
        return None if inside else text
    return allowed


def one_of(names: Callable[[], Sequence[str]]) -> Callable[[Any], str | None]:
    def allowed(v: str) -> str | None:
        return None if v in names() else f"one of {', '.join(names())}"
    return allowed


def matches(pattern: re.Pattern[str], text: str) -> Callable[[Any], str | None]:
    def allowed(v: str) -> str | None:
        m = pattern.match(v.strip())
        return None if m and float(m.group(1)) > 0 else text
    return allowed


def nonnegative_time(v: str) -> str | None:
    return None if TC_TIME.match(v.strip()) else f"a time: a number and a unit ({TIME_UNITS})"


def parsed_by(parse: Callable[[Any], object]) -> Callable[[Any], str | None]:
    """A check by one of the nemesis' own parsers, which say what is wrong."""
    def allowed(v: str) -> str | None:
        try:
            parse(v)
        except ValueError as e:
            return str(e)
        return None
    return allowed
