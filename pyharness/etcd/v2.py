"""python-etcd (etcd's v2 API) with no hidden retries, and error triage.

python-etcd sends through urllib3, whose default ``Retry`` re-sends a request
after a read timeout. On the lab one timed-out write was committed four
times, and a re-sent compare-and-swap that had already succeeded came back
"compare failed", so a real write would be recorded as failed. Here every
request is sent once; retrying is the client's recorded decision.

:func:`classify` sorts what can go wrong into:

- ``"fail"``: the request certainly had no effect (refused connection,
  connect timeout, a definite error answer such as compare-failed);
- ``"info"``: it may have had an effect (read timeout after the request was
  sent, connection reset mid-request, server-side timeout).
"""

from __future__ import annotations

import logging

import etcd
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ReadTimeoutError,
)

from pyharness.etcd.triage import Triage

# python-etcd logs every failed request at ERROR; the history records them.
logging.getLogger("etcd.client").setLevel(logging.CRITICAL)


def connect(address: str, port: int = 2379, timeout: float = 1.0,
            connect_timeout: float | None = None) -> etcd.Client:
    """A python-etcd client bound to one member, sending each request once."""
    c = etcd.Client(host=address, port=port, read_timeout=timeout, allow_reconnect=False)
    c.http = urllib3.PoolManager(
        num_pools=1,
        maxsize=1,
        timeout=urllib3.Timeout(connect=connect_timeout or timeout, read=timeout),
        retries=urllib3.Retry(total=False, connect=0, read=0, redirect=5),
    )
    return c


def classify(e: BaseException) -> Triage:
    """Did a failed request certainly have no effect? See the module docstring."""
    cause = getattr(e, "cause", None)
    if isinstance(e, etcd.EtcdConnectionFailed) and cause is not None:
        if isinstance(cause, ConnectTimeoutError | NewConnectionError):
            return Triage(True, ["connect-failed", type(cause).__name__])
        if isinstance(cause, ReadTimeoutError):
            return Triage(False, ["timeout"])
        return Triage(False, ["connection-lost", type(cause).__name__])
    if isinstance(e, etcd.EtcdConnectionFailed):
        return Triage(False, ["connection-lost", str(e)[:200]])
    if isinstance(e, etcd.EtcdCompareFailed):
        return Triage(True, ["compare-failed"])
    if isinstance(e, etcd.EtcdKeyNotFound):
        return Triage(True, ["not-found"])
    if isinstance(e, etcd.EtcdAlreadyExist):
        return Triage(True, ["already-exists"])
    if isinstance(e, etcd.EtcdException):
        # e.g. "etcdserver: request timed out" (raft didn't commit in time):
        # the proposal may still be applied later.
        return Triage(False, ["etcd-error", str(e)[:200]])
    return Triage(False, [type(e).__name__, str(e)[:200]])
