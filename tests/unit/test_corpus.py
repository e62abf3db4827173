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


def _depth_first_alone(path: Path) -> bool | None:
    """The depth-first search alone on every key (None: undecided)."""
    from checkers.linear_prep import prepare
    from checkers.linearizable import checker_for
    from pyharness.history.formats import read_history
    from tests.unit.test_linearizable import depth_first

    loaded = read_history(path)
    checker = checker_for(None, loaded.model_hint, loaded.options, None, None)
    problems, _ = prepare(loaded.ops, checker.model, definite_fail=checker.definite_fail,
                          independent=checker.independent)
    verdicts = [depth_first(checker.model, p).decide(300_000) for p in problems.values()]
    return False if False in verdicts else None if None in verdicts else True


@pytest.mark.skipif(not CASES, reason=f"no corpus at {CORPUS}")
def test_the_depth_first_search_alone_gets_the_published_verdicts() -> None:
    """The competition's second search, held to the same verdicts on its own:
    never a wrong answer, and an answer on most files."""
    decided = 0
    for path, expected in CASES:
        got = _depth_first_alone(path)
        if got is not None:
            assert got is expected, path
            decided += 1
    assert decided >= 0.8 * len(CASES), f"decided only {decided} of {len(CASES)}"
