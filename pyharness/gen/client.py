"""Clients and nemeses: the two kinds of things that carry out operations.

A *client* is bound to one node and turns an invocation into a completion:
``ok`` if the operation happened, ``fail`` if it certainly did not, and
``info`` if the outcome is unknown. Getting that distinction right is the
client's whole job: calling a timed-out write a failure hides lost updates
from the checker, and calling a failed one ok invents them.

A *nemesis* injects and heals faults. Its completions are always ``info``
(Jepsen's convention) and carry what it did in ``Op.extra``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Protocol

from pyharness.history import Op


class Client(Protocol):
    def open(self, test: Mapping[str, Any], node: str) -> Client:
        """A fresh client bound to ``node``."""
        ...

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op:
        """Carry out ``op`` and return its completion."""
        ...

    def close(self, test: Mapping[str, Any]) -> None: ...


class AsyncClient(Protocol):
    """A client whose ops run as coroutines on the interpreter's event loop:
    the same contract as :class:`Client`, for hundreds of ops in flight."""

    async def open(self, test: Mapping[str, Any], node: str) -> AsyncClient: ...

    async def invoke(self, test: Mapping[str, Any], op: Op) -> Op: ...

    async def close(self, test: Mapping[str, Any]) -> None: ...


def is_async(client: object) -> bool:
    return inspect.iscoroutinefunction(getattr(client, "invoke", None))


class Nemesis(Protocol):
    fs: frozenset[str]

    def invoke(self, test: Mapping[str, Any], op: Op) -> Op: ...

    def heal(self, test: Mapping[str, Any]) -> None:
        """Undo every fault this nemesis may have left in place. Must be safe
        to call at any time, more than once, and from a signal handler's
        cleanup path."""
        ...


def exception_error(e: BaseException) -> dict[str, str]:
    """The shape the unhandled-exceptions checker groups by."""
    return {"class": type(e).__name__, "message": str(e)[:500]}


# A client written once for both engines yields the requests it needs and
# gets back each answer, or has the request's exception thrown in at the
# yield, where it triages it as usual. These two drivers send the requests:
# one blocking, one on the event loop. ``steps`` returns the completion.
Steps = Generator[Any, Any, Op]


def run_steps(call: Callable[..., Any], steps: Steps) -> Op:
    try:
        request = next(steps)
        while True:
            try:
                answer = call(request)
            except Exception as e:
                request = steps.throw(e)
            else:
                request = steps.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def arun_steps(call: Callable[..., Awaitable[Any]], steps: Steps) -> Op:
    try:
        request = next(steps)
        while True:
            try:
                answer = await call(request)
            except Exception as e:
                request = steps.throw(e)
            else:
                request = steps.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
