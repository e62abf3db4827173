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
    etcd_version: str | None = None
    snapshot_count: int | None = None
    snapshot_catchup_entries: int | None = None
    compaction_batch_limit: int | None = None
    disk_write_iops: int | None = None
    api: str = "v2"
    serializable: bool = False
    junit: Path | None = None
    nemesis_targets: str | None = None
    nemesis_agent: bool = True
    connect_backoff: float = 1.0
    engine: str = "auto"
    json_out: bool = False
    # The workload's own options (declared in its module, see
    # pyharness.workloads), by field; a missing one takes its default.
    workload_options: dict[str, Any] = field(default_factory=dict)
    # The faults' own options (registered with their fault kind, see
    # pyharness.nemesis.registry), by field; a missing one takes its default.
    faults: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("inventory", "store", "junit"):
            d[k] = str(d[k]) if d[k] is not None else None
        for group in ("workload_options", "faults"):
            d[group] = {k: str(v) if isinstance(v, Path) else v
                        for k, v in getattr(self, group).items()}
        return d


class UsageError(ValueError):
    """Bad input: a one-line message naming the option (or file and key)."""
