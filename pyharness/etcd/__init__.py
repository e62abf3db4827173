"""Talking to etcd: the v2 and v3 connections, and one error triage.

:mod:`.v2` and :mod:`.v3` (with :mod:`.v3_async` for the event loop, and
:mod:`.grpc` for the one call etcd 3.4's gateway lacks) turn a request into
an answer or an exception. :mod:`.triage` decides, for every exception, the
question a Jepsen history turns on: did the request certainly have no
effect (``fail``), or might it have (``info``)? :mod:`.endpoints` maps a
host to its client URL; :mod:`.cluster_state` reads each member's view
(revision, hash, alarms) after a run.
"""
