"""One module per fault family, each registering its kinds with
:func:`pyharness.nemesis.registry.register`. Every module here is loaded
when the registry is first read; adding a fault is adding a module."""

# Loaded first, in this order (the order --help and errors list faults in);
# any other module here after them, by name.
FIRST = ("partition", "process", "link")
