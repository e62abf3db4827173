"""A test run, from options to verdict.

:mod:`.options` holds the run's validated options; :mod:`.testrun` runs the
phases (setup, load under faults, heal, final reads, checks, logs, teardown)
with signal handling and cleanup; :mod:`.analysis` runs the checkers on a
history, live or saved; :mod:`.scenario` reads scenario files and runs a
folder of them; :mod:`.bugs` runs the known-bug matrix;
:mod:`.check_cluster` validates a running cluster without a workload, and
:mod:`.quickcheck` runs the model test of the lattice variable store.
"""
