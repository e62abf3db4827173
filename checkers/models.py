"""Models: the sequential specification a linearizability checker compares against.

A history is linearizable if every operation can be given one instant inside
its own interval (between invocation and completion) such that, taken in that
order, the operations are a legal run of a *sequential* object: the model.
As in Porcupine, a model is a handful of pure functions:

- ``init()``: the state before any operation;
- ``step(state, call)``: the states the object may be in after ``call`` runs
  in ``state``; an empty tuple means the call cannot happen there (a read
  that returned 3 cannot run while the register holds 2). Most models are
  deterministic and return one state; returning several allows nondeterminism;
- ``read_only(call)``: true if ``step`` never changes the state (a read, a
  failed compare-and-set); the search treats such calls more cheaply;
- ``blind(call)``: true if the call sets the state whatever it was (a plain
  write). A write placed just before a blind write is invisible, which lets
  the search avoid enumerating orders nobody could observe;
- ``describe_state`` / ``describe_call``: text for reports.

States must be hashable and compare by value: the search deduplicates them.
A :class:`Call` is one operation as the model sees it: its function, its
argument (from the invocation), its result (from an ``ok`` completion) and its
status. Values are frozen (lists become tuples) so calls can be hashed.

Models here: ``register`` (read/write), ``cas-register`` (read/write/cas) and
``kv`` (get/put/append on one key's string; keys are split off before the
search sees them). A new model is a subclass defining these methods, added to
:data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

State = Hashable
_ATOMS = frozenset({int, str, type(None), bool, float})


def freeze(v: Any) -> Any:
    """Lists become tuples (recursively) so values can key dicts."""
    if type(v) in _ATOMS:  # most values: nothing to do, found without isinstance
        return v
    if isinstance(v, list | tuple):
        return tuple(map(freeze, v))
    if isinstance(v, dict):
        return tuple(sorted((k, freeze(x)) for k, x in v.items()))
    return v


class Call(NamedTuple):
    """An operation as the model sees it. ``status`` is ok, fail or info.

    A named tuple, not a frozen dataclass: the search hashes and compares
    calls in its inner loops, and a tuple does both in C."""

    f: str
    arg: Any = None
    ret: Any = None
    status: str = "ok"


class Model:
    """Base class. Subclasses override ``step`` and usually ``read_only``/``blind``."""

    name = "model"
    fs: frozenset[str] = frozenset()

    def init(self) -> State:
        return None

    def step(self, state: State, call: Call) -> tuple[State, ...]:
        raise NotImplementedError

    def read_only(self, call: Call) -> bool:
        return False

    def blind(self, call: Call) -> bool:
        return False

    def value_problem(self, f: str, type: str, value: Any) -> str | None:
        """What was expected of an op's value (its key split off), None if it fits.
        Every value must freeze into something hashable (mixed-type map keys do not)."""
        try:
            hash(freeze(value))
        except TypeError:
            return f"expected a value the model can compare, got {_show(value)[:80]}"
        return None

    def describe_state(self, state: State) -> str:
        return "nil" if state is None else repr(state)

    def describe_call(self, call: Call) -> str:
        arg = "" if call.arg is None else f" {_show(call.arg)}"
        ret = f" -> {_show(call.ret)}" if call.status == "ok" and call.ret is not None else ""
        tag = "" if call.status == "ok" else f" ({call.status})"
        return f"{call.f}{arg}{ret}{tag}"


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, tuple):
        return "[" + " ".join(_show(x) for x in v) + "]"
    return repr(v) if isinstance(v, str) else str(v)


class Register(Model):
    """A read/write register.

    ``initial``: the state before the first write (Knossos: 0, Porcupine and
    etcd: nil, meaning "no value yet"). ``nil_read_matches_any``: Knossos
    reads of nil carry no information; elsewhere a nil read means the
    register is still empty and only matches the initial nil.
    """

    name = "register"
    fs = frozenset({"read", "write"})

    def __init__(self, initial: Any = None, nil_read_matches_any: bool = False) -> None:
        self.initial = freeze(initial)
        self.nil_read_matches_any = nil_read_matches_any

    def init(self) -> State:
        return self.initial

    def step(self, state: State, call: Call) -> tuple[State, ...]:
        if call.f == "read":
            if call.status != "ok":
                return (state,)  # an unanswered read constrains nothing
            if call.ret is None and self.nil_read_matches_any:
                return (state,)
            return (state,) if call.ret == state else ()
        if call.f == "write":
            if call.status == "fail":
                return (state,)  # definitely did not happen
            return (call.arg,)
        return ()

    def read_only(self, call: Call) -> bool:
        return call.f == "read" or call.status == "fail"

    def blind(self, call: Call) -> bool:
        return call.f == "write" and call.status != "fail"


class CasRegister(Register):
    """A register with compare-and-set: ``cas [old new]`` sets ``new`` if it holds ``old``.

    An ok cas needs the register to hold ``old``. A *definite* failed cas (as
    Porcupine reads etcd's answers) says the compare found something else, so
    it can only be placed where the register did not hold ``old``.
    """

    name = "cas-register"
    fs = frozenset({"read", "write", "cas"})

    def step(self, state: State, call: Call) -> tuple[State, ...]:
        if call.f != "cas":
            return super().step(state, call)
        old, new = call.arg
        if call.status == "fail":
            return (state,) if state != old else ()
        # ok, or crashed (info): placing a crashed cas only matters where it succeeds
        return (new,) if state == old else ()

    def read_only(self, call: Call) -> bool:
        return super().read_only(call) or (call.f == "cas" and call.arg[0] == call.arg[1])

    def value_problem(self, f: str, type: str, value: Any) -> str | None:
        if f == "cas" and type == "invoke" and not (
                isinstance(value, list | tuple) and len(value) == 2):
            return f"expected :cas's value to be [old new], got {_show(value)[:80]}"
        return super().value_problem(f, type, value)


class KV(Model):
    """One key of Porcupine's key-value store: get / put / append on a string."""

    name = "kv"
    fs = frozenset({"get", "put", "append"})

    def __init__(self, initial: Any = "", **_: Any) -> None:
        self.initial = "" if initial is None else initial

    def init(self) -> State:
        return self.initial

    def step(self, state: State, call: Call) -> tuple[State, ...]:
        if call.status == "fail":
            return (state,)
        if call.f == "get":
            if call.status != "ok":
                return (state,)
            return (state,) if call.ret == state else ()
        if call.f == "put":
            return (call.arg,)
        if call.f == "append":
            return (f"{state}{call.arg}",)
        return ()

    def read_only(self, call: Call) -> bool:
        return call.f == "get" or call.status == "fail" or (call.f == "append" and call.arg == "")

    def blind(self, call: Call) -> bool:
        return call.f == "put" and call.status != "fail"

    def value_problem(self, f: str, type: str, value: Any) -> str | None:
        if f in ("put", "append") and type == "invoke" and not isinstance(value, str):
            return f"expected :{f}'s value to be a string, got {_show(value)[:80]}"
        if f == "get" and type == "ok" and not isinstance(value, str | None):
            return f"expected :get to return a string, got {_show(value)[:80]}"
        return super().value_problem(f, type, value)


MODELS: dict[str, Callable[..., Model]] = {
    "register": Register,
    "cas-register": CasRegister,
    "kv": KV,
}


def make_model(name: str, **options: Any) -> Model:
    """Build a model by name; options it does not know are ignored."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
    if cls is KV:
        return KV(initial=options.get("initial", ""))
    return cls(initial=options.get("initial"),
               nil_read_matches_any=bool(options.get("nil_read_matches_any", False)))
