"""The options of ``pyharness test`` and their defaults, cheap to import.

The command line needs the defaults to build its ``--help``; importing
:mod:`pyharness.run.testrun` for them would import Ansible, the workloads and
the plotting libraries before any command has run. What each option allows
is checked by :mod:`pyharness.run.testrun` (``OPTIONS``, ``validate``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
VERDICTS = {EXIT_VALID: "valid", EXIT_INVALID: "invalid", EXIT_UNKNOWN: "unknown"}


@dataclass
class TestOptions:
    workload: str = "set"
    nemesis: str = "partition-random-halves"
    time_limit: float = 30.0
    concurrency: int = 10
    rate: float = 10.0
    inventory: Path | None = None
    leave_db_running: bool = False
    db: str = "managed"
    seed: int | None = None
    store: Path = field(default_factory=lambda: Path("store"))
    op_timeout: float = 1.5
    recovery_time: float = 10.0
    nemesis_interval: float = 5.0
    lab_nodes: int = 5
    ops_per_key: int = 100
    no_quorum: bool = False
    lock_fencing: bool = False
    lock_ttl: int = 2
    consistency_model: str = "strict-serializable"
    watch_window: float = 1.0
    compact_interval: float = 2.0
    etcd_version: str | None = None
    snapshot_count: int | None = None
    api: str = "v2"
    serializable: bool = False
    junit: Path | None = None
    store_bug: str | None = None
    nemesis_targets: str | None = None
    grudge_file: Path | None = None
    loss_probability: float = 0.3
    slow_rate: str = "1mbit"
    netem_delay: str = "100ms"
    netem_jitter: str = "20ms"
    netem_loss: float | None = None
    netem_duplicate: float | None = None
    netem_reorder: float | None = None
    kill_start_timeout: int = 30
    nemesis_agent: bool = True
    connect_backoff: float = 1.0
    engine: str = "auto"
    json_out: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("inventory", "store", "junit", "grudge_file"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


class UsageError(ValueError):
    """Bad input: a one-line message naming the option (or file and key)."""
