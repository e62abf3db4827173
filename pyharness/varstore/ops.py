"""Store operations as history ops, the one place that turns one into the other.

Both the ``varstore`` workload and quickcheck's parallel mode record what
they do as :class:`pyharness.history.Op`. Values are JSON (see
:mod:`pyharness.varstore.lattice`) and always ``[name, arg]``:

==========  ===================  ==========================================
f           invoke value         ok completion
==========  ===================  ==========================================
declare     ``[name, type]``     same value
bind        ``[name, value]``    same value; ``extra["state"]``: the state
                                 the bind left
read        ``[name, threshold]``  ``[name, state]``
==========  ===================  ==========================================

Triage of a failure: a :class:`~pyharness.varstore.store.VarStoreError` is
the store's definite refusal (``fail``, error = its code; ``unavailable``
for a bind that could not read its variable, so never wrote). An etcd error goes
through the store's backend's ``classify`` (v2 or v3): a read is ``fail`` whatever
happened (reads have no effect), a declare or bind is ``fail`` only if the
request certainly had no effect, else ``info``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyharness.etcd.triage import failed
from pyharness.history import FAIL, INVOKE, OK, Op
from pyharness.varstore.lattice import lattice
from pyharness.varstore.store import VarStore, VarStoreError


def invocation(f: str, name: str, arg: Any, type_name: str, process: int | str = 0) -> Op:
    """An invoke op for a command given in canonical (Python) values."""
    if f == "declare":
        value: list[Any] = [name, type_name]
    else:
        enc = None if arg is None else lattice(type_name).encode(arg)
        value = [name, enc]
    return Op(type=INVOKE, f=f, value=value, process=process)


def perform(store: VarStore, inv: Op, types: Mapping[str, str], read_timeout: float) -> Op:
    """Carry out ``inv`` on ``store`` and return its completion.

    ``types`` maps variable names to types, to decode the JSON argument."""
    name, arg = inv.value
    try:
        if inv.f == "declare":
            store.declare(name, arg)
            return inv.completion(OK)
        lat = lattice(types[name])
        decoded = None if arg is None else lat.decode(arg)
        if inv.f == "bind":
            state = store.bind(name, decoded)
            done = inv.completion(OK)
            done.extra["state"] = lat.encode(state)
            return done
        if inv.f == "read":
            state = store.read(name, decoded, timeout=read_timeout)
            return inv.completion(OK, value=[name, lat.encode(state)])
    except VarStoreError as e:
        return inv.completion(FAIL, error=e.code)
    except Exception as e:
        return failed(inv, store.classify(e), no_effect=inv.f == "read")
    raise ValueError(f"varstore: unknown f {inv.f!r}")
