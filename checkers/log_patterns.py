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
etcd's corruption reports, and capnslog's critical level.

The result counts matches per host and per pattern and keeps the first few
lines (:data:`MAX_EXAMPLES` per host) with file and line number. ``valid?``
is false if any line matched, true otherwise, as in Jepsen. No logs at all
(a run killed before it collected them, a history analysed without its run)
is ``unknown`` with the reason: nothing scanned proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN
from pyharness.history import Op

DEFAULT_PATTERNS: tuple[str, ...] = (
    r"panic",
    r"fatal",
    r"data corruption",
    r"data inconsistency",  # etcd's corruption check: "found data inconsistency with peers"
    r"database corrupted",
    r"^\S+ \S+ C \| ",  # capnslog's critical level (Fatal and Panic log at it)
)

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

    def _log_files(self, nodes: Path) -> dict[str, list[Path]]:
        hosts: dict[str, list[Path]] = {}
        if not nodes.is_dir():
            return hosts
        for host in sorted(p for p in nodes.iterdir() if p.is_dir()):
            hosts[host.name] = sorted(p for p in host.rglob("*") if p.is_file())
        return hosts

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        run_dir = self.run_dir if self.run_dir is not None else Path(test["store_dir"])
        hosts = self._log_files(run_dir / "nodes")
        matches: dict[str, dict[str, Any]] = {}
        scanned = 0
        for host, files in hosts.items():
            count = 0
            by_pattern = dict.fromkeys(self.patterns, 0)
            examples: list[dict[str, Any]] = []
            for path in files:
                scanned += 1
                # errors="replace": a log cut mid-write must not stop the scan.
                with path.open(encoding="utf-8", errors="replace") as fh:
                    for lineno, line in enumerate(fh, 1):
                        hit = [p for p, rx in zip(self.patterns, self._regexes, strict=True)
                               if rx.search(line)]
                        if not hit:
                            continue
                        count += 1
                        for p in hit:
                            by_pattern[p] += 1
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
        if scanned == 0:
            # Nothing read is nothing known: a run killed before collecting
            # logs must not pass for one whose logs were clean.
            result["valid?"] = UNKNOWN
            result["reason"] = f"no node logs under {run_dir / 'nodes'}: nothing to scan"
        return result
