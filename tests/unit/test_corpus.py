"""Every published history in ../shared/corpus gets its published verdict.

The verdicts come from the tools that published the histories (Porcupine's
test suite, Knossos's data folders), read with each source's own semantics,
which ``pyharness.history.formats`` conveys to the checker. Files are found, not
listed, so new histories of the same kinds are checked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkers.linearizable import analyze_file

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def _cases() -> list[tuple[Path, bool]]:
    cases: list[tuple[Path, bool]] = []
    etcd = CORPUS / "jepsen-etcd"
    if (etcd / "verdicts.txt").exists():
        for line in (etcd / "verdicts.txt").read_text().splitlines():
            if line.strip():
                name, verdict = line.split()
                cases.append((etcd / name, verdict == "true"))
    for path in sorted((CORPUS / "porcupine-kv").glob("*")):
        if path.stem.endswith(("-ok", "-bad")):
            cases.append((path, path.stem.endswith("-ok")))
    for folder, verdict in (("good", True), ("bad", False)):
        for path in sorted((CORPUS / "knossos-cas" / folder).glob("*.edn")):
            cases.append((path, verdict))
    return cases


CASES = _cases() if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")
def test_corpus_is_present() -> None:
    assert len(CASES) > 100


@pytest.mark.skipif(not CASES, reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize(("path", "expected"), CASES,
                         ids=[f"{p.parent.name}/{p.name}" for p, _ in CASES])
def test_published_verdict(path: Path, expected: bool, tmp_path: Path) -> None:
    res = analyze_file(path, time_limit=60, out_dir=tmp_path)
    assert res["valid?"] is expected, res["failures"]
    if not expected:
        # every failure explains itself and is drawn
        for failure in res["failures"]:
            assert Path(failure["file"]).is_file()
