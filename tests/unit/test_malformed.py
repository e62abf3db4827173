"""Malformed histories are errors naming file:line and what was expected.

A completion with no open invoke, a second invoke on a busy process, a
completion of another function, and a value of the wrong shape for the model
used to be guessed at (skipped, taken as a crash) or crashed the checker.
Jepsen's own liberties stay accepted: the nemesis logs info ops with or
without invokes, and ops still open at the end never returned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyharness.history import HistoryError
from pyharness.history.formats import read_history
from tests.unit.conftest import invoke


def jsonl(tmp_path: Path, *ops: dict) -> Path:
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(o) + "\n" for o in ops))
    return p


def op(process: object, type: str, f: str = "read", value: object = None, **kw: object
       ) -> dict:
    return {"process": process, "type": type, "f": f, "value": value, **kw}


def error_of(path: Path) -> str:
    with pytest.raises(HistoryError) as err:
        read_history(path)
    return str(err.value)


def test_completion_without_invoke(tmp_path: Path) -> None:
    p = jsonl(tmp_path, op(0, "invoke"), op(0, "ok", value=1), op(1, "ok", value=1))
    msg = error_of(p)
    assert msg.startswith(f"{p}:3: expected an invoke") and "process 1" in msg


def test_second_invoke_on_a_busy_process(tmp_path: Path) -> None:
    p = jsonl(tmp_path, op(0, "invoke"), op(1, "invoke"), op(0, "invoke", "write", 3))
    msg = error_of(p)
    assert msg.startswith(f"{p}:3: expected process 0 to complete its read (invoked at line 1)")


def test_completion_of_another_function(tmp_path: Path) -> None:
    p = jsonl(tmp_path, op(0, "invoke"), op(0, "ok", "write", 1))
    assert error_of(p).startswith(f"{p}:2: expected the completion of process 0's read")


@pytest.mark.parametrize("process", [[1, 2], None, 1.5, {"a": 1}])
def test_process_of_the_wrong_type(tmp_path: Path, process: object) -> None:
    p = jsonl(tmp_path, op(process, "invoke"))
    assert error_of(p).startswith(f"{p}:1: expected the process to be an integer or a name")


@pytest.mark.parametrize(("field", "value"), [("index", "x"), ("time", 1.5), ("index", None)])
def test_index_and_time_must_be_integers(tmp_path: Path, field: str, value: object) -> None:
    p = jsonl(tmp_path, op(0, "invoke", **{field: value}))
    assert error_of(p).startswith(f"{p}:1: expected {field} to be an integer")


def test_edn_and_log_say_where_too(tmp_path: Path) -> None:
    edn = tmp_path / "h.edn"
    edn.write_text("[{:process 0, :type :invoke, :f :read, :value nil}\n"
                   " {:process 0, :type :ok, :f :read, :value 1}\n"
                   " {:process 0, :type :ok, :f :read, :value 1}]\n")
    assert error_of(edn).startswith(f"{edn}:3: expected an invoke")
    log = tmp_path / "etcd.log"
    log.write_text("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                   "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n")
    assert error_of(log).startswith(f"{log}:2: expected process 0 to complete")


def test_what_jepsen_accepts_still_reads(tmp_path: Path) -> None:
    p = jsonl(tmp_path,
              op("nemesis", "info", "start", "partition"),  # no invoke: Jepsen's nemesis
              op("nemesis", "info", "start", "partition"),
              op(0, "invoke"), op(0, "info"),  # crashed; process retired
              op(1, "invoke", "write", 1))  # never returned
    assert len(read_history(p).ops) == 5


@pytest.mark.parametrize(("ops", "line", "expected"), [
    ([op(0, "invoke", "cas", 5), op(0, "ok", "cas", 5)], 1,
     "expected :cas's value to be [old new]"),
    ([op(0, "invoke", "cas", [1, 2, 3])], 1, "[old new]"),
    ([op(0, "invoke", "write", {"a": 1, "1": 2}), op(1, "invoke", "write", {"a": 1, 2: 3})],
     2, "compare"),
])
def test_values_of_the_wrong_shape_for_the_model(tmp_path: Path, ops: list[dict], line: int,
                                                  expected: str) -> None:
    p = tmp_path / "h.edn"
    lines = []
    for o in ops:
        v = o["value"]
        if isinstance(v, dict):
            v = "{" + " ".join(f"{k if isinstance(k, int) else json.dumps(k)} {w}"
                               for k, w in v.items()) + "}"
        elif isinstance(v, list):
            v = "[" + " ".join(map(str, v)) + "]"
        lines.append(f"{{:process {o['process']} :type :{o['type']} :f :{o['f']} :value {v}}}")
    p.write_text("\n".join(lines) + "\n")
    r = invoke("analyze", p, "--out", tmp_path)
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {p}:{line}:") and expected in err[0], err


def test_kv_values_must_be_strings(tmp_path: Path) -> None:
    p = tmp_path / "kv.txt"
    p.write_text('{:process 0, :type :invoke, :f :put, :key "1", :value "x"}\n'
                 '{:process 0, :type :ok, :f :put, :key "1", :value "x"}\n'
                 '{:process 0, :type :invoke, :f :append, :key "1", :value 7}\n')
    r = invoke("analyze", p, "--out", tmp_path)
    assert r.exit_code == 2
    assert f"{p}:3: expected :append's value to be a string, got 7" in r.stderr
