"""Generators, and the interpreter that turns them into a history.

A generator (:mod:`.generator`) is a pure description of which operations to
invoke and when: sequences, mixes, rates, time limits, phases. The
interpreter (:mod:`.interpreter`) asks it for the next op for each free
worker, hands the op to that worker's client or to the nemesis (the
protocols are in :mod:`.client`), and records the invocation and its
completion. :mod:`.driver_load` watches the controller's own CPU, so a run
can tell when the driver, not the cluster, was the limit.
"""
