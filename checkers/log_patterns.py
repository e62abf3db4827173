"""Log-file patterns: did a node say something alarming while we tested it?

A history can look fine while a member crashed and restarted under it, or
logged that its data was corrupt. Jepsen's ``log-file-pattern`` checker reads
the logs it collected from each node and fails the test if a line matches a
pattern such as ``panic``; this is the same checker over our store's
``nodes/<host>/*`` (what ``playbooks/collect-logs.yml`` fetched).

Patterns are regular expressions matched case-insensitively anywhere in a
line, so they work on etcd's text logs (capnslog: ``2024-... C | etcdserver:
...``, where ``C`` is critical) and on its JSON logs (zap:
``{"level":"panic","msg":...}``) alike. The defaults are the ones that mean a
member failed, not that it was unhappy: a Go ``panic``, a ``fatal`` exit,
etcd's corruption reports (its initial and periodic corruption checks), a
raised CORRUPT or NOSPACE alarm (named per host in ``alarms``), and
capnslog's critical level.

The result counts matches per host and per pattern and keeps the first few
lines (:data:`MAX_EXAMPLES` per host) with file and line number. ``valid?``
is false if any line matched, true otherwise, as in Jepsen. No logs at all
(a run killed before it collected them, a history analysed without its run)
is ``unknown`` with the reason: nothing scanned proves nothing.

Only regular files that resolve inside the run directory are read: a
symlink under ``nodes/`` that leads out of the run (or a FIFO, a device) is
skipped and named in ``skipped`` and the warning, so a run cannot make the
checker copy lines of a file that is not its own into ``results.json``.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN
from pyharness.history import Op
from pyharness.history.store import open_regular, regular_inside

#: A CORRUPT or NOSPACE alarm, as etcd logs it being raised (zap:
#: ``"msg":"alarm raised","alarm":"CORRUPT"``, 3.4 and 3.5; capnslog: ``alarm
#: NOSPACE raised by peer ...``) or refusing /health because of it (``/health
#: error due to alarm:CORRUPT``, 3.4; ``serving /health false due to an alarm``,
#: 3.5). The alarm is named in the result's ``alarms`` by host.
ALARM_PATTERNS: tuple[str, ...] = (
    r'"msg":"alarm raised".*"alarm":"(CORRUPT|NOSPACE)"',
    r"\balarm (CORRUPT|NOSPACE) raised",
    r"/health (error|false) due to (an )?alarm.*\b(CORRUPT|NOSPACE)\b",
)

DEFAULT_PATTERNS: tuple[str, ...] = (
    r"panic",
    r"fatal",
    r"data corruption",
    # etcd's own corruption checks: the initial one ("... found data
    # inconsistency with peers", "checkInitialHashKV failed") and the
    # leader's periodic one (3.4 and 3.5: "same compact revision then hashes
    # must match", logged before it raises the CORRUPT alarm)
    r"data inconsistency",
    r"checkInitialHashKV failed",
    r"same compact revision then hashes must match",
    r"database corrupted",
    r"^\S+ \S+ C \| ",  # capnslog's critical level (Fatal and Panic log at it)
    *ALARM_PATTERNS,
)
_ALARM_KIND = re.compile(r"\b(CORRUPT|NOSPACE)\b")

#: Example lines kept per host; the counts stay exact.
MAX_EXAMPLES = 5
#: An example line longer than this is cut.
MAX_LINE_CHARS = 500


class LogPatternChecker:
    """Jepsen's log-file-pattern checker over ``run_dir/nodes/<host>/*``."""

    name = "log-file-pattern"

    def __init__(self, run_dir: Path | str | None = None,
                 patterns: Sequence[str] = DEFAULT_PATTERNS) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.patterns = tuple(patterns)
        self._regexes = [re.compile(p, re.IGNORECASE) for p in self.patterns]

    def _log_files(self, run_dir: Path, skipped: list[str]
                   ) -> dict[str, list[tuple[Path, Path]]]:
        """(path in the run, real file) per host, of regular files inside the run."""
        hosts: dict[str, list[tuple[Path, Path]]] = {}
        nodes = run_dir / "nodes"
        if nodes.is_symlink() or not nodes.is_dir():
            if nodes.is_symlink():
                skipped.append(f"{nodes}: a symlink")
            return hosts
        for host in sorted(nodes.iterdir()):
            if host.is_symlink() or not host.is_dir():
                if host.is_symlink() or not host.is_file():
                    skipped.append(f"{host.relative_to(run_dir)}: "
                                   f"{'a symlink' if host.is_symlink() else 'not a directory'}")
                continue
            files: list[tuple[Path, Path]] = []
            # followlinks=False: a symlinked directory is never walked into
            for dirpath, dirnames, filenames in os.walk(host, followlinks=False):
                dirnames.sort()
                for d in dirnames:
                    if (Path(dirpath) / d).is_symlink():
                        skipped.append(f"{(Path(dirpath) / d).relative_to(run_dir)}: a symlink")
                for name in sorted(filenames):
                    p = Path(dirpath) / name
                    try:
                        files.append((p, regular_inside(p, run_dir)))
                    except OSError as e:
                        skipped.append(str(e) if e.strerror is None
                                       else f"{p.relative_to(run_dir)}: {e.strerror}")
            hosts[host.name] = files
        return hosts

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        run_dir = self.run_dir if self.run_dir is not None else Path(test["store_dir"])
        run_dir = run_dir.resolve()
        skipped: list[str] = []
        hosts = self._log_files(run_dir, skipped)
        matches: dict[str, dict[str, Any]] = {}
        alarms: dict[str, set[str]] = {}
        alarm_patterns = set(ALARM_PATTERNS) & set(self.patterns)
        scanned = 0
        for host, files in hosts.items():
            count = 0
            by_pattern = dict.fromkeys(self.patterns, 0)
            examples: list[dict[str, Any]] = []
            for path, real in files:
                try:
                    raw = open_regular(real)
                except OSError as e:  # swapped for a FIFO since it was listed
                    skipped.append(f"{path.relative_to(run_dir)}: {e.strerror or e}")
                    continue
                scanned += 1
                # errors="replace": a log cut mid-write must not stop the scan.
                with io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as fh:
                    for lineno, line in enumerate(fh, 1):
                        hit = [p for p, rx in zip(self.patterns, self._regexes, strict=True)
                               if rx.search(line)]
                        if not hit:
                            continue
                        count += 1
                        for p in hit:
                            by_pattern[p] += 1
                        if alarm_patterns.intersection(hit):
                            kind = _ALARM_KIND.search(line)
                            if kind:
                                alarms.setdefault(host, set()).add(kind.group(1))
                        if len(examples) < MAX_EXAMPLES:
                            examples.append({"file": str(path.relative_to(run_dir)),
                                             "line": lineno, "patterns": hit,
                                             "text": line.rstrip("\n")[:MAX_LINE_CHARS]})
            if count:
                matches[host] = {"count": count,
                                 "by-pattern": {p: n for p, n in by_pattern.items() if n},
                                 "examples": examples}
        result: dict[str, Any] = {
            "valid?": not matches,
            "patterns": list(self.patterns),
            "hosts-scanned": sorted(hosts),
            "files-scanned": scanned,
            "match-count": sum(m["count"] for m in matches.values()),
            "matches": matches,
        }
        if alarms:
            result["alarms"] = {h: sorted(k) for h, k in sorted(alarms.items())}
            result["alarm-summary"] = "; ".join(
                f"{h}: {', '.join(k)} alarm raised" for h, k in result["alarms"].items())
        warnings = []
        if skipped:
            result["skipped"] = skipped
            warnings.append(f"skipped {len(skipped)} node log path(s) that are not regular "
                            f"files inside the run: {'; '.join(skipped[:5])}")
        if scanned == 0:
            # Nothing read is nothing known: a run killed before collecting
            # logs must not pass for one whose logs were clean.
            result["valid?"] = UNKNOWN
            result["reason"] = f"no node logs under {run_dir / 'nodes'}: nothing to scan"
        if warnings:
            result["warning"] = "; ".join(warnings)
        return result
