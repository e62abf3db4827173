"""Fuzzing ``pyharness analyze`` with mutated corpus files.

Real histories from ../shared/corpus (and one of ours, converted from them)
are mutated: bytes flipped, inserted and cut; lines dropped, doubled and
swapped; fields replaced by values of other shapes; values nested deeper
than any reader allows; other encodings; CRLF; trailing blank lines. A fixed
seed and a bounded number of cases keep it quick and repeatable.

Whatever the input, analyze answers: no traceback, exit 0, 1 or 2, and an
exit 2 without a verdict is one error line naming the file. And what must
not matter does not: trailing blank lines, CRLF line endings and the order
of a JSON object's keys never change a verdict.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from pyharness.history.formats import read_history
from tests.conftest import CORPUS
from tests.unit.conftest import invoke

SEED = 20261203
CASES_PER_SEED = 14

SEEDS = [CORPUS / p for p in (
    "knossos-cas/good/cas-register-bug.edn",
    "knossos-cas/good/mongodb-v0-ack-rollback-9.edn",
    "knossos-cas/bad/immediate-failure.edn",
    "knossos-cas/bad/rethink-fail-minimal.edn",
    "porcupine-kv/c01-bad.txt",
    "jepsen-etcd/etcd_002.log",
)]
needs_corpus = pytest.mark.skipif(not all(p.exists() for p in SEEDS),
                                  reason="../shared/corpus is absent")

FIELD_VALUES = ["nil", "-1", "[1 2]", "[1]", ":foo", '"x"', "{", "]", "1e999", "#{1 2}",
                "[[[[", "99999999999999999999999", "{:a 1}", "\\a", "#inst \"2020\"", "", ":",
                '"\\u12"', "true", "0.5"]
JSON_VALUES = ["null", "-1", "[1, 2]", "[1]", '"foo"', "{", "]", "1e999", "NaN", "[[[[",
               "99999999999999999999999", '{"a": 1}', "true", '""', "[]", '{"1": [2]}']


def as_jsonl(seed: Path, dest: Path) -> Path:
    """One of our own JSONL histories, from a corpus history."""
    ops = read_history(seed).ops
    dest.write_text("".join(json.dumps(op.to_dict()) + "\n" for op in ops))
    return dest


def mutate(data: bytes, rng: random.Random, is_json: bool) -> bytes:
    kind = rng.choice(["byte", "insert", "cut", "lines", "field", "field", "depth",
                       "encoding", "crlf", "blank", "truncate"])
    if kind == "byte" and data:
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    if kind == "insert":
        i = rng.randrange(len(data) + 1)
        return data[:i] + rng.choice([b"{", b"}", b"[", b"]", b'"', b";", b"\\", b"\x00",
                                      b"\xc3", b"\n", b",", b"#"]) + data[i:]
    if kind == "cut" and data:
        i = rng.randrange(len(data))
        return data[:i] + data[i + rng.randrange(1, 40):]
    if kind == "truncate" and data:
        return data[:rng.randrange(len(data))]
    lines = data.split(b"\n")
    if kind == "lines" and len(lines) > 2:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        how = rng.choice(["drop", "dup", "swap"])
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if kind == "field":
        text = data.decode("utf-8", "replace")
        pattern = r'(?<=": )[^,}]+' if is_json else r"(?<=:value )[^,}\n]+|(?<=\t)\S+$"
        spots = list(re.finditer(pattern, text, re.M))
        if spots:
            m = rng.choice(spots)
            new = rng.choice(JSON_VALUES if is_json else FIELD_VALUES)
            text = text[:m.start()] + new + text[m.end():]
        return text.encode("utf-8")
    if kind == "depth":
        text = data.decode("utf-8", "replace")
        n = rng.choice([50, 99, 100, 101, 3000])
        target = r'(?<="value": )[^,}]+' if is_json else r"(?<=:value )[^,}\n]+|(?<=\t)\S+$"
        spots = list(re.finditer(target, text, re.M))
        if spots:
            m = rng.choice(spots)
            sep = ", " if is_json else " "
            text = text[:m.start()] + "[" * n + m.group(0) + sep + "1" + "]" * n + \
                text[m.end():]
        return text.encode("utf-8")
    if kind == "encoding":
        text = data.decode("utf-8", "replace")
        enc = rng.choice(["utf-16", "utf-8-sig", "latin-1"])
        return (text + ("\n; é\n" if enc == "latin-1" else "")).encode(enc, "replace")
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    return data + b"\n" * rng.randrange(1, 4) + rng.choice([b"", b"   \n", b"\t\n"])


def analyze(path: Path, out: Path) -> tuple[int, str, str]:
    r = invoke("analyze", path, "--out", out, "--time-limit", "5")
    # in-process, a crash is the runner's exception, not an exit code
    assert r.exception is None or isinstance(r.exception, SystemExit), \
        f"{path}: {type(r.exception).__name__}: {r.exception}"
    assert "Traceback" not in r.stdout + r.stderr
    return r.exit_code, r.stdout, r.stderr


def verdict(stdout: str) -> str | None:
    m = re.search(r"verdict: (\w+)", stdout)
    return m.group(1) if m else None


def seeds(tmp_path: Path) -> list[Path]:
    return [*SEEDS, as_jsonl(SEEDS[0], tmp_path / "ours.jsonl"),
            as_jsonl(SEEDS[2], tmp_path / "ours-bad.jsonl")]


@needs_corpus
def test_mutated_histories_get_an_answer_never_a_traceback(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    out = tmp_path / "out"
    out.mkdir()
    for n, seed in enumerate(seeds(tmp_path)):
        data = seed.read_bytes()
        for i in range(CASES_PER_SEED):
            mutated = data
            for _ in range(rng.choice([1, 1, 2, 3])):
                mutated = mutate(mutated, rng, seed.suffix == ".jsonl")
            p = tmp_path / f"case-{n}-{i}{seed.suffix}"
            p.write_bytes(mutated)
            code, stdout, stderr = analyze(p, out)
            assert code in (0, 1, 2), (p, code)
            if verdict(stdout) is None:
                errors = stderr.strip().splitlines()
                assert code == 2, (p, stdout, stderr)
                assert len(errors) == 1 and str(p) in errors[0], (p, stderr)


@needs_corpus
def test_blank_lines_crlf_and_key_order_never_change_a_verdict(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    out = tmp_path / "out"
    out.mkdir()
    for seed in seeds(tmp_path):
        data = seed.read_bytes()
        code, stdout, _ = analyze(seed, out)
        expected = (code, verdict(stdout))
        assert expected[1] is not None, (seed, stdout)
        variants = {"blank": data + b"\n\n  \n\t\n", "crlf": data.replace(b"\n", b"\r\n"),
                    "both": data.replace(b"\n", b"\r\n") + b"\r\n\r\n"}
        if seed.suffix == ".jsonl":
            def shuffled(line: bytes) -> bytes:
                if not line.strip():
                    return line
                items = list(json.loads(line).items())
                rng.shuffle(items)
                return json.dumps(dict(items)).encode()
            variants["keys"] = b"\n".join(shuffled(x) for x in data.split(b"\n"))
        for name, variant in variants.items():
            p = tmp_path / f"{seed.stem}-{name}{seed.suffix}"
            p.write_bytes(variant)
            code, stdout, stderr = analyze(p, out)
            assert (code, verdict(stdout)) == expected, (name, seed, stderr)
