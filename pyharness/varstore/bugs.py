"""Known store bugs, switched on by name, to prove the tests can see them.

A test that has never failed may be testing nothing. Mutation testing turns
that around: plant a bug the test is meant to catch, and check that it does.
Each bug below is a small, realistic mistake in :mod:`pyharness.varstore.store`:

- ``bind-without-cas``: a bind reads the variable, computes the new state and
  writes it *blindly*, without comparing on the index it read. Two binds that
  race both "succeed" and the later write erases the earlier one: a lost
  update (or, for single-assignment, two different acknowledged values).
- ``join-drops-element``: the G-Set join loses the largest element when it
  merges two sets neither of which contains the other.
- ``early-threshold-read``: a read returns the current state at once instead
  of blocking until the variable is bound or its threshold is met.
- ``rebind-allowed``: a single-assignment bind to a different value
  overwrites the variable instead of failing.
"""

from __future__ import annotations

BIND_WITHOUT_CAS = "bind-without-cas"
JOIN_DROPS_ELEMENT = "join-drops-element"
EARLY_THRESHOLD_READ = "early-threshold-read"
REBIND_ALLOWED = "rebind-allowed"

BUGS: tuple[str, ...] = (BIND_WITHOUT_CAS, JOIN_DROPS_ELEMENT, EARLY_THRESHOLD_READ,
                         REBIND_ALLOWED)


def check(bug: str | None) -> str | None:
    """``bug`` if it names a known bug (or is None); ValueError otherwise."""
    if bug is not None and bug not in BUGS:
        raise ValueError(f"unknown store bug {bug!r}; expected one of {', '.join(BUGS)}")
    return bug
