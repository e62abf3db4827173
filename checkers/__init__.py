"""Checkers judge histories.

A checker takes the test's options and a history and returns a result map
whose ``"valid?"`` is ``True``, ``False`` or ``"unknown"``. Checkers know
nothing about how a history was made: the same modules judge a live run and a
saved history from Jepsen, Knossos or Porcupine.
"""
