"""What a run leaves for people and tools to read.

:mod:`.page` writes a run's HTML report, :mod:`.serve` serves a store of
runs over loopback, :mod:`.junit` and :mod:`.export` write JUnit XML and
Jepsen EDN, and :mod:`.progress` draws the live status line and the results
table. :mod:`.demo_store` makes a store of synthetic runs for demos and
tests of the above.
"""
