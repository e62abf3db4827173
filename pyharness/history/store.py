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
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO


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


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_inside(path: Path, root: Path | None = None) -> Path:
    """``path`` resolved, if it is a regular file (after symlinks) inside ``root``.

    Raises OSError otherwise, with a reason a person can act on. Reading a
    FIFO or a device would hang or never end, and a symlink out of a run
    would copy a file that is not the run's into its results."""
    try:
        real = path.resolve(strict=True)
    except RuntimeError:  # a symlink loop
        raise OSError(f"{path}: a symlink loop") from None
    if root is not None and not real.is_relative_to(root.resolve()):
        raise OSError(f"{path}: resolves outside {root} (to {real})")
    mode = real.stat().st_mode
    if not stat.S_ISREG(mode):
        raise OSError(f"{path}: {_kind(mode)}, not a regular file")
    return real


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, without blocking.

    O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; the
    file type is checked on the open descriptor, so a swap after a check
    cannot slip a FIFO or device in."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{path}: {_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int = 256 << 20) -> str:
    """The text of a regular file (see :func:`open_regular`), at most ``limit`` bytes."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path}: larger than {limit} bytes")
    return data.decode("utf-8")
