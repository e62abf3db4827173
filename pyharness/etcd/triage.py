"""One error triage: did a failed request certainly have no effect?

Every client asks this of every exception, and the answer decides the op's
completion. ``fail`` tells the checker the op never happened; ``info`` tells
it the op may have happened at any moment from its invocation on. Calling a
timed-out write ``fail`` hides lost updates; calling a refused one ``info``
only costs search time. So when in doubt, the answer is ``info``.

Each API's ``classify`` (:func:`pyharness.etcd.v2.classify`,
:func:`pyharness.etcd.v3.classify`, :func:`pyharness.etcd.v3_async.classify`)
turns its exceptions into a :class:`Triage`; :func:`failed` turns a triage
into the completion, the one place where that rule is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyharness.history import FAIL, INFO, Op


@dataclass(frozen=True)
class Triage:
    definite: bool  # True: the request certainly had no effect
    error: list[str]


def failed(op: Op, triage: Triage, *, no_effect: bool = False) -> Op:
    """The completion of ``op`` after a request failed: ``fail`` if the
    request certainly had no effect (``triage.definite``) or the op could
    have none (a read, or a request whose writes had not been sent;
    ``no_effect``), else ``info``."""
    return op.completion(FAIL if triage.definite or no_effect else INFO, error=triage.error)
