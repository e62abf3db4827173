"""The fast EDN reader agrees with ``edn_format`` on the shapes histories have.

A differential test: Hypothesis writes EDN text (op maps with nested values,
strings with escapes, odd whitespace and commas, negative numbers, namespaced
keywords) and the fast path must give exactly what ``edn_format.loads``
followed by the old conversion gives. It must also read those shapes itself,
without handing them to ``edn_format``, or it would not be fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import edn_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyharness.history import HistoryError
from pyharness.history.formats import edn_fast, read_history
from pyharness.history.formats.edn import read_edn_lines
from pyharness.history.formats.edn_fast import MAX_DEPTH, iter_maps, parse_fast, to_python
from tests.conftest import CORPUS


def reference(text: str) -> object:
    """What the reader produced before the fast path: edn_format, then to_python."""
    return to_python(edn_format.loads(text))


# --- EDN text, built from parts

WS = st.sampled_from([" ", "  ", ",", ", ", "\t", "\n", " ,\n\t", ",,"])
KW_START = "abcxyzABCXYZ*!_?$%&=<>é"
KW_REST = KW_START + "0123456789.+-:#@"
NAME = st.builds(lambda a, b: a + b, st.sampled_from(KW_START),
                 st.text(KW_REST, max_size=8))
KEYWORD = st.one_of(
    NAME.map(lambda n: ":" + n),
    st.builds(lambda ns, n: f":{ns}/{n}", NAME, NAME),  # :jepsen.foo/bar
    st.just(":jepsen.foo/bar"))
INT = st.one_of(st.integers(-5, 5), st.integers(-(10 ** 20), 10 ** 20)).map(str) | \
    st.integers(0, 99).map(lambda i: f"+{i}")
FLOAT = st.floats(allow_nan=False, allow_infinity=False).map(repr)


def _char(c: str, style: int) -> str:
    if c == '"':
        return '\\"'
    if c == "\\":
        return "\\\\"
    if style == 1 and c in "\n\t\r\b\f":
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}[c]
    if style == 2 and ord(c) < 0x10000 and not 0xD800 <= ord(c) < 0xE000:
        return f"\\u{ord(c):04x}"
    return c


STRING = st.lists(st.tuples(st.one_of(st.characters(codec="utf-8"),
                                      st.sampled_from('\n\t"\\ é;{}[]#')),
                            st.integers(0, 2)), max_size=12).map(
    lambda cs: '"' + "".join(_char(c, s) for c, s in cs) + '"')
SCALAR = st.one_of(KEYWORD, INT, FLOAT, STRING, st.sampled_from(["nil", "true", "false"]))
SET_ELEMENT = st.one_of(KEYWORD, st.integers(-3, 3).map(str), STRING,
                        st.sampled_from(["nil", "true", "false", "1.0", "0"]))


@st.composite
def joined(draw: st.DrawFn, open_: str, items: list[str], close: str) -> str:
    out = open_ + draw(st.sampled_from(["", " ", ",", "\n"]))
    for x in items:
        out += x + draw(WS)
    return out + close


def collection(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.one_of(NAME.map(lambda n: ":" + n), st.integers(-9, 9).map(str))
    maps = st.dictionaries(keys, children, max_size=4).flatmap(
        lambda d: joined("{", [x for kv in d.items() for x in kv], "}"))
    return st.one_of(
        st.lists(children, max_size=4).flatmap(lambda xs: joined("[", xs, "]")),
        st.lists(children, max_size=4).flatmap(lambda xs: joined("(", xs, ")")),
        maps,
        st.lists(SET_ELEMENT, max_size=4).flatmap(lambda xs: joined("#{", xs, "}")))


VALUE = st.recursive(SCALAR, collection, max_leaves=12)


@st.composite
def op_map(draw: st.DrawFn) -> str:
    fields = {":process": draw(st.one_of(st.integers(-2, 20).map(str), st.just(":nemesis"))),
              ":type": draw(st.sampled_from([":invoke", ":ok", ":fail", ":info"])),
              ":f": draw(st.one_of(KEYWORD, st.sampled_from([":read", ":write", ":cas"]))),
              ":value": draw(VALUE)}
    extra = draw(st.dictionaries(NAME.map(lambda n: ":x" + n), VALUE, max_size=2))
    items = list(fields.items()) + list(extra.items())
    items = draw(st.permutations(items))
    return draw(joined("{", [x for kv in items for x in kv], "}"))


# --- the tests

@settings(max_examples=300, deadline=None)
@given(VALUE)
def test_values_agree_with_edn_format(text: str) -> None:
    assert parse_fast(text) == reference(text)
    assert repr(parse_fast(text)) == repr(reference(text))  # 1 vs 1.0 vs True


@settings(max_examples=200, deadline=None)
@given(op_map())
def test_op_maps_agree_with_edn_format(text: str) -> None:
    fast = parse_fast(text)
    assert repr(fast) == repr(reference(text))
    assert list(fast) == list(reference(text))  # key order too


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_map(), min_size=1, max_size=6), st.booleans(), WS)
def test_files_agree_with_edn_format(maps: list[str], vector: bool, sep: str) -> None:
    """Whole files, streamed line by line: maps that span lines, strings with
    newlines in them, inside a vector or one after another."""
    text = ("[" if vector else "") + ("\n" + sep).join(maps) + ("]" if vector else "") + "\n"
    lines = list(enumerate(text.splitlines(keepends=True), 1))
    got = [v for _, v in iter_maps(lines, Path("h.edn"))]
    assert repr(got) == repr([reference(m) for m in maps])


def test_what_the_fast_path_leaves_to_edn_format_still_reads() -> None:
    # symbols, tags, characters, discards, ratios, big decimals, colliding keys
    for text in ['{:a foo}', '{:t #inst "2020-01-01T00:00:00Z"}', r'{:c \a}',
                 '{:a #_ 1 2}', '{:r 1/2}', '{:d 1.5M}', '{:a 1 "a" 2 :a 3}',
                 '{:s #{[1 2] [1 2]}}', '{:n 7N}']:
        assert repr(edn_fast.loads(text)) == repr(reference(text)), text


def test_crlf_and_other_whitespace_separate_tokens(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_bytes(b"[{:process 0,\r\n :type :invoke, :f :read, :value nil}\r\n"
                  b" {:process 0 :type :ok :f :read :value\x0c3}]\r\n")
    assert [(o.type, o.value) for o in read_history(p).ops] == [("invoke", None), ("ok", 3)]


def test_every_corpus_op_map_agrees() -> None:
    files = sorted(CORPUS.glob("knossos-cas/*/*.edn")) + sorted(CORPUS.glob("porcupine-kv/*"))
    if not files:
        pytest.skip("no corpus")
    for path in files:
        text = path.read_text()
        for line, op in read_edn_lines(path):
            assert op.type in ("invoke", "ok", "fail", "info"), (path, line)
        maps = [v for _, v in iter_maps(enumerate(text.splitlines(True), 1), path)]
        # the reference: each map's own text through edn_format
        whole = to_python(edn_format.loads(text if text.lstrip(" \n;").startswith(
            ("[", "(")) or ";" in text else "[" + text + "]"))
        assert repr(maps) == repr(whole), path


# --- limits: depth, encodings

@pytest.mark.parametrize("name", ["deep.edn", "deep.jsonl", "deep.log"])
def test_deep_nesting_is_an_error_naming_file_and_line(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    deep = "[" * 50_000 + "]" * 50_000
    if name.endswith(".edn"):
        text = "{:process 0 :type :invoke :f :read :value nil}\n" \
               f"{{:process 0 :type :ok :f :read :value {deep}}}\n"
    elif name.endswith(".jsonl"):
        text = json.dumps({"process": 0, "type": "invoke", "f": "read", "value": None}) + \
            "\n" + '{"process": 0, "type": "ok", "f": "read", "value": ' + deep + "}\n"
    else:
        text = ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                f"INFO  jepsen.util - 0\t:ok\t:read\t{deep}\n")
    p.write_text(text)
    with pytest.raises(HistoryError) as err:
        read_history(p)
    assert str(err.value).startswith(f"{p}:2:") and "deep" in str(err.value)


def test_depth_up_to_the_limit_reads(tmp_path: Path) -> None:
    v = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    p = tmp_path / "ok.edn"
    p.write_text(f"{{:process 0 :type :invoke :f :read :value {v}}}\n")
    assert read_history(p).ops[0].value is not None


@pytest.mark.parametrize("name", ["h.edn", "h.jsonl", "h.log", "kv.txt"])
def test_bad_utf8_names_file_line_and_byte(tmp_path: Path, name: str) -> None:
    good = {"h.edn": b"{:process 0, :type :invoke, :f :read, :value nil}\n",
            "h.jsonl": b'{"process": 0, "type": "invoke", "f": "read", "value": null}\n',
            "h.log": b"INFO  jepsen.util - 0\t:invoke\t:read\tnil\n",
            "kv.txt": b'{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n'}[name]
    p = tmp_path / name
    p.write_bytes(good * 3 + good[:10] + b"\xff" + good[10:])
    fmt = {"h.edn": "edn", "h.jsonl": "jsonl", "h.log": "jepsen-log",
           "kv.txt": "porcupine-kv"}[name]
    with pytest.raises(HistoryError) as err:
        read_history(p, fmt)
    assert str(err.value).startswith(f"{p}:4: not UTF-8") and \
        f"byte {3 * len(good) + 10}" in str(err.value)
