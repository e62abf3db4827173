"""History readers: every format, its semantics hints, and file:line on bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pyharness.history import HistoryError, HistoryWriter, Op
from pyharness.history.formats import detect_format, read_history


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_edn_vector_with_comments_keywords_and_nemesis(tmp_path: Path) -> None:
    p = write(tmp_path, "history.edn", """; a comment
[{:process 0, :type :invoke, :f :cas, :value [1 2], :time 10}
 ; between ops
 {:process 0 :type :fail :f :cas :value [1 2] :time 20 :error [:unavailable nil]}
 {:process :nemesis, :type :info, :f :kill, :value nil}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value nil, :note "a ; not a comment"}]
""")
    loaded = read_history(p)
    assert loaded.format == "edn"
    assert loaded.model_hint == "cas-register"
    assert loaded.options["initial"] == 0 and loaded.options["nil_read_matches_any"] is True
    first, fail, nem, _, read = loaded.ops
    assert (first.type, first.f, first.value, first.process, first.time) == \
        ("invoke", "cas", [1, 2], 0, 10)
    assert fail.error == ["unavailable", None] and fail.index == 1
    assert nem.process == "nemesis" and not nem.is_client
    assert read.value is None and read.extra == {"note": "a ; not a comment"}


def test_edn_list_and_one_map_per_line(tmp_path: Path) -> None:
    lst = write(tmp_path, "a.edn", "({:process 0, :type :invoke, :f :write, :value 3}\n"
                                   " {:process 0, :type :ok, :f :write, :value 3})\n")
    lines = write(tmp_path, "b.edn", "{:process 0, :type :invoke, :f :read, :value nil}\n"
                                     "{:process 0, :type :ok, :f :read, :value 3}\n")
    assert [o.type for o in read_history(lst).ops] == ["invoke", "ok"]
    assert [o.value for o in read_history(lines).ops] == [None, 3]


@pytest.mark.parametrize(("text", "line", "expected"), [
    ("[{:process 0, :type :invoke, :f :read}\n {:process 0 :type}]\n", 2, "EDN op map"),
    ("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :done, :f :read}]\n", 2,
     ":type"),
    ("[{:process 0, :type :invoke, :f :read}\n 42]\n", 2, "op map"),
    ("{:process 0, :type :invoke, :f :read}\n{:type :ok, :f :read}\n", 2, ":process"),
    ("[{:process 0, :type :invoke, :f :read}\n {:process 1, :type :ok\n", 2, "unclosed"),
])
def test_edn_malformed_names_file_and_line(tmp_path: Path, text: str, line: int,
                                           expected: str) -> None:
    p = write(tmp_path, "bad.edn", text)
    with pytest.raises(HistoryError) as err:
        read_history(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}:{line}:") and expected in msg and "\n" not in msg


def test_jepsen_log_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "etcd.log",
              "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\n"
              "INFO  jepsen.core - some other message\n"
              "INFO  jepsen.util - 3\t:fail\t:cas\t[1 4]\n"
              "INFO  jepsen.util - 0   :invoke :write  2\n"
              "INFO  jepsen.util - 0\t:info\t:write\t:timed-out\n"
              "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
              "INFO  jepsen.util - 1\t:ok\t:read\t2\n")
    loaded = read_history(p)
    assert loaded.format == "jepsen-log"
    assert loaded.options == {"initial": None, "nil_read_matches_any": False,
                              "definite_fail": True, "independent": None}
    vals = [(o.process, o.type, o.f, o.value) for o in loaded.ops]
    assert vals == [(3, "invoke", "cas", [1, 4]), (3, "fail", "cas", [1, 4]),
                    (0, "invoke", "write", 2), (0, "info", "write", "timed-out"),
                    (1, "invoke", "read", None), (1, "ok", "read", 2)]
    assert [o.index for o in loaded.ops] == list(range(6))


@pytest.mark.parametrize(("bad", "expected"), [
    ("INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4\n", "EDN value"),
    ("INFO  jepsen.util - 3\t:begin\t:cas\t[1 4]\n", ":type"),
    ("INFO  jepsen.util - x\t:ok\t:read\t1\n", "process"),
    ("garbage that is no log line\n", "Jepsen log line"),
])
def test_jepsen_log_malformed_names_file_and_line(tmp_path: Path, bad: str,
                                                  expected: str) -> None:
    p = write(tmp_path, "x.log", "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n" + bad)
    with pytest.raises(HistoryError, match=rf"^{p}:2: .*{expected}"):
        read_history(p)


def test_porcupine_kv_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "c01-ok.txt",
              '{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}\n'
              '{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}\n'
              '{:process 1, :type :invoke, :f :get, :key "4", :value nil}\n'
              '{:process 1, :type :ok, :f :get, :key "4", :value "x 0 1 y"}\n')
    loaded = read_history(p)
    assert loaded.format == "porcupine-kv" and loaded.model_hint == "kv"
    assert loaded.options["independent"] == "key" and loaded.options["initial"] == ""
    assert [o.extra["key"] for o in loaded.ops] == ["4"] * 4
    assert loaded.ops[3].value == "x 0 1 y"


def test_porcupine_kv_without_key_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "kv.txt",
              '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n'
              '{:process 0, :type :ok, :f :get, :value ""}\n')
    with pytest.raises(HistoryError, match=rf"^{p}:2: expected a :key"):
        read_history(p, format="porcupine-kv")


def test_our_jsonl_round_trips_and_detects_independent_keys(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    w = HistoryWriter(path)
    w.append(Op("invoke", "write", ["k1", 3], 0, time=5))
    w.append(Op("ok", "write", ["k1", 3], 0, time=9))
    w.append(Op("info", "kill", None, "nemesis", time=12))
    w.close()
    loaded = read_history(path)
    assert loaded.format == "jsonl" and loaded.model_hint == "cas-register"
    assert loaded.options["independent"] == "tuple" and loaded.options["initial"] is None
    assert [(o.type, o.value, o.time) for o in loaded.ops] == \
        [("invoke", ["k1", 3], 5), ("ok", ["k1", 3], 9), ("info", None, 12)]


def test_jsonl_malformed_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "h.jsonl", json.dumps({"type": "invoke", "f": "read"}) + "\n{oops\n")
    with pytest.raises(HistoryError, match=rf"^{p}:2: expected a JSON object"):
        read_history(p)


def test_detection_by_first_line_without_extension(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, "a", "INFO  jepsen.util - 1\t:ok\t:read\t1\n")) \
        == "jepsen-log"
    assert detect_format(write(tmp_path, "b", '{"type": "ok", "f": "read"}\n')) == "jsonl"
    assert detect_format(write(tmp_path, "c", "\n[{:process 1}]\n")) == "edn"
    with pytest.raises(HistoryError, match=":1: cannot tell"):
        detect_format(write(tmp_path, "d", "hello\n"))


def _kv_line(rng: random.Random, i: int) -> str:
    """One line as Porcupine writes them, values drawn to cover the shapes."""
    key = rng.choice(["0", "7", "", "k é", "a b", "ключ", "x" * 30])
    f = rng.choice(["get", "put", "append"])
    value = rng.choice(['nil', '""', '"x 0 1 y"', '"é ☃"', f'"x {i} {i % 7} y"'])
    return (f"{{:process {rng.choice([0, 1, 49, 123, -3])}, :type "
            f":{rng.choice(['invoke', 'ok', 'fail', 'info'])}, :f :{f}, "
            f":key {json.dumps(key, ensure_ascii=False)}, :value {value}}}")


@pytest.mark.parametrize("seed", range(6))
def test_porcupine_kv_fast_lines_read_as_the_edn_reader_reads_them(
        tmp_path: Path, seed: int) -> None:
    """The one-pattern reader gives exactly the ops (and lines) of the EDN
    reader; a line of any other shape anywhere sends the whole file to it."""
    from pyharness.history.formats import porcupine
    from pyharness.history.formats.edn import read_edn_lines

    rng = random.Random(seed)
    lines = [_kv_line(rng, i) for i in range(300)]
    # blank lines, CRLF and trailing blanks keep the fast path
    lines[10] = ""
    lines[20] += "  "
    text = "\n".join(lines) + "\n"
    p = write(tmp_path, "kv.txt", text if seed % 2 else text.replace("\n", "\r\n"))
    assert porcupine._read_plain(p) is not None
    assert porcupine.read_porcupine_kv_lines(p) == read_edn_lines(p)
    # other shapes: a comment, a :time, an escape, a keyword value, a map on
    # two lines, reordered keys, commas left out
    odd = ['; a comment',
           '{:process 0, :type :invoke, :f :get, :key "1", :value nil, :time 5}',
           '{:process 0, :type :invoke, :f :put, :key "1", :value "a \\"b\\""}',
           '{:process 0, :type :invoke, :f :get, :key "1", :value :x}',
           '{:process 0, :type :invoke,\n :f :get, :key "1", :value nil}',
           '{:type :invoke, :process 0, :f :get, :key "1", :value nil}',
           '{:process 0 :type :invoke :f :get :key "1" :value nil}',
           '{:process 007, :type :invoke, :f :get, :key "1", :value nil}']
    at = rng.randrange(1, 299)
    for o in odd:
        mixed = [*lines[:at], o, *lines[at:]]
        q = write(tmp_path, "mixed.txt", "\n".join(mixed) + "\n")
        assert porcupine._read_plain(q) is None, o
        assert porcupine.read_porcupine_kv_lines(q) == read_edn_lines(q)


@pytest.mark.parametrize("bad,expected", [
    ('{:process 0, :type :invoke, :f :get, :value nil}', "expected a :key"),
    ('{:process 0, :type :invoke, :f :cas, :key "1", :value nil}', "expected :f one of"),
    ('{:process 0, :type :invoke, :f :get, :key "1", :value nil', "unclosed map"),
    ('{:process 0, :type :done, :f :get, :key "1", :value nil}', ":type"),
])
def test_porcupine_kv_a_bad_line_after_many_good_ones_is_named(
        tmp_path: Path, bad: str, expected: str) -> None:
    good = [f'{{:process {i}, :type :invoke, :f :get, :key "1", :value nil}}\n'
            f'{{:process {i}, :type :ok, :f :get, :key "1", :value ""}}' for i in range(200)]
    p = write(tmp_path, "kv.txt", "\n".join(good) + "\n" + bad + "\n")
    with pytest.raises(HistoryError, match=rf"^{p}:401: .*{expected}"):
        read_history(p, format="porcupine-kv")
