"""A Lasp-style variable store on etcd: single-assignment and lattice
variables, bound with compare-and-swap, read with thresholds.

See :mod:`pyharness.varstore.lattice` for the lattices,
:mod:`pyharness.varstore.store` for how the store uses etcd, and
:mod:`pyharness.varstore.bugs` for the bugs a test can switch on.
"""

from __future__ import annotations

from pyharness.varstore.bugs import BUGS
from pyharness.varstore.lattice import LATTICES, TYPES, Conflict, Lattice, lattice
from pyharness.varstore.store import (
    NotDeclared,
    NotInflation,
    PendingBind,
    ReadTimeout,
    Rebind,
    TooManyConflicts,
    TypeMismatch,
    Unavailable,
    VarStore,
    VarStoreError,
)

__all__ = [
    "BUGS", "LATTICES", "TYPES", "Conflict", "Lattice", "NotDeclared", "NotInflation",
    "PendingBind", "ReadTimeout", "Rebind", "TooManyConflicts", "TypeMismatch", "Unavailable",
    "VarStore",
    "VarStoreError", "lattice",
]
