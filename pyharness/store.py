"""The store: one directory per run, everything needed to look again.

``store/<test-name>/<timestamp>/`` holds ``test.json`` (every option, so the
run can be analysed again), ``history.jsonl``, ``results.json``,
``driver.log``, ``ansible/`` (ansible-runner artifacts of each playbook run)
and ``nodes/<host>/`` (member logs). ``store/latest`` and
``store/<test-name>/latest`` point at the newest run.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def new_run_dir(store: Path, test_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")[:-4] + "Z"
    run = store / test_name / stamp
    run.mkdir(parents=True, exist_ok=False)
    _point(store / "latest", run)
    _point(store / test_name / "latest", run)
    return run


def _point(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, link.parent))
    tmp.replace(link)  # atomic: readers never see a missing link


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
