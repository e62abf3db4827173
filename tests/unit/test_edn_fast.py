"""The fast EDN reader agrees with ``edn_format`` on the shapes histories have.

A differential test: Hypothesis writes EDN text (op maps with nested values,
strings with escapes, odd whitespace and commas, negative numbers, namespaced
keywords) and the fast path must give exactly what ``edn_format.loads``
followed by the old conversion gives. It must also read those shapes itself,
without handing them to ``edn_format``, or it would not be fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import patch

import edn_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyharness.history import HistoryError
from pyharness.history.formats import edn, edn_fast, read_history
from pyharness.history.formats.edn import read_edn_lines
from pyharness.history.formats.edn_fast import (
    MAX_DEPTH,
    flat_map,
    iter_maps,
    parse_fast,
    to_python,
)
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


# --- the flat-line fast path against the general path and edn_format
#
# A piece of a line is (text, whether flat_map must read it itself). Lines mix
# what the fast path is for with what it must leave to the general path.

def _piece(ok: bool) -> Callable[[str], tuple[str, bool]]:
    return lambda text: (text, ok)


PLAIN_STRING = st.text(st.characters(codec="utf-8", exclude_characters='"\\\n\r'),
                       max_size=10).map(lambda s: '"' + s + '"')  # no escapes: the fast path's
FLAT_SCALAR = st.one_of(
    st.integers(-(10 ** 30), 10 ** 30).map(str).map(_piece(True)),  # big and negative
    st.integers(0, 999).map(str).map(_piece(True)),
    st.sampled_from(["0", "-0", "+7", "-5", "1e5", "-1.5E-3", "0.0", "-0.0"]).map(_piece(True)),
    FLOAT.map(_piece(True)),
    st.sampled_from(["nil", "true", "false"]).map(_piece(True)),
    KEYWORD.map(_piece(True)),
    PLAIN_STRING.map(_piece(True)),
    STRING.map(_piece(False)),  # escapes, newlines: may go either way
    st.sampled_from(["007", "00", "-01", "1_000", "1/2", "1.5M", "7N", "null", "foo", "1.",
                     ".5", "#inst \"2020\"", r"\a", "#{1}", "(1)", "{:a 1}", "#_ 1", "[[1]]",
                     "[1 [2]]", '["a"]', "[1", "1]", ":", "é", "\u0663"]).map(_piece(False)),
)
FLAT_VECTOR = st.lists(FLAT_SCALAR, max_size=4).map(  # a string in a vector goes either way
    lambda xs: ("[" + " ".join(x for x, _ in xs) + "]",
                all(ok and not x.startswith('"') for x, ok in xs)))
FLAT_KEY = st.one_of(
    st.sampled_from([":index", ":time", ":process", ":type", ":f", ":value", ":error", ":node",
                     ":key"]).map(_piece(True)),
    KEYWORD.map(_piece(True)),
    st.sampled_from(['"type"', "1", "nil", "[1]", "foo", ":a:b", ":jepsen/x"]).map(
        lambda k: (k, k.startswith(":"))))
FLAT_TYPE = st.sampled_from([":invoke", ":ok", ":fail", ":info", ":invoke", ":ok", ":done", "1",
                             '"ok"', "nil"])
FLAT_PROCESS = st.one_of(st.integers(0, 20).map(str).map(_piece(True)),
                         st.just((":nemesis", True)), FLAT_SCALAR)


@st.composite
def flat_line(draw: st.DrawFn) -> tuple[str, bool, bool]:
    """(line, whether edn_format reads its whitespace, whether flat_map must read it)"""
    odd = draw(st.booleans())  # whitespace edn_format does not take: CR, FF, U+2028, NBSP
    ws = st.sampled_from([" ", ",", ", ", "\t", "  ", " ,, "] +
                         (["\r", "\x0c", "\u2028", "\xa0", "\x1c"] if odd else []))
    pairs: list[tuple[tuple[str, bool], tuple[str, bool]]] = []
    if draw(st.booleans()):  # the keys an op has, some of them optional, in any order
        pairs += [((":process", True), draw(FLAT_PROCESS)),
                  ((":type", True), (draw(FLAT_TYPE), True)),
                  ((":f", True), draw(FLAT_SCALAR))]
        for key in (":value", ":time", ":index", ":error", ":node"):
            if draw(st.booleans()):
                pairs.append(((key, True), draw(FLAT_SCALAR | FLAT_VECTOR)))
    pairs += draw(st.lists(st.tuples(FLAT_KEY, FLAT_SCALAR | FLAT_VECTOR), max_size=4))
    pairs = draw(st.permutations(pairs))
    names = [k for (k, _), _ in pairs]
    ok = len(set(names)) == len(names) and all(kok and vok for (_, kok), (_, vok) in pairs)
    body = "".join(k + draw(ws) + v + draw(ws) for (k, _), (v, _) in pairs)
    text = draw(st.sampled_from(["", " ", "\t"])) + "{" + draw(st.sampled_from(["", " ", ","])) + \
        body + "}" + draw(st.sampled_from(["", " ", ","] + ([" \r"] if odd else []))) + "\n"
    return text, not odd, ok and not text.rstrip("\n").endswith(",")


def _general(text: str) -> object:
    try:
        return parse_fast(text)
    except edn_fast._Unsupported:
        return "unsupported"


@settings(max_examples=500, deadline=None)
@given(flat_line())
def test_flat_lines_read_as_the_general_path_reads_them(case: tuple[str, bool, bool]) -> None:
    text, standard, fast = case
    flat = flat_map(text)
    if fast:
        assert flat is not None, text  # the shapes it is for, it reads itself
    if flat is None:
        return
    got = dict(zip(*flat, strict=True))
    general = _general(text)
    assert repr(got) == repr(general) and list(got) == list(general)  # type: ignore[call-overload]
    if standard:
        assert repr(got) == repr(reference(text))


def _outcome(read: Callable[[Path], object], path: Path) -> tuple[str, str]:
    try:
        return "ok", repr(read(path))
    except HistoryError as e:
        return "error", str(e)


def _general_only(read: Callable[[Path], object], path: Path) -> tuple[str, str]:
    """What ``read`` gives with the flat-line path turned off."""
    with ExitStack() as stack:
        for module in (edn, edn_fast):
            stack.enter_context(patch.object(module, "flat_map", lambda text: None))
        return _outcome(read, path)


OTHER_LINE = st.sampled_from([
    "\n", "  \n", "; a comment\n", "[\n", "]\n", "(\n", ")\n", "42\n", "}\n",
    "[{:process 0 :type :invoke :f :r}\n", "{:process 1 :type :ok :f :r}]\n",
    "{:process 0\n", " :type :ok :f :read}\n",  # a map over two lines
    '{:process 0 :type :ok :f :read :value "a\n', 'b"}\n',  # a string over two lines
    "{:a 1} {:b 2}\n", "{:process 0 :type :ok :f :read} ; c\n",
    "{:process 0 :type :info :f :x :value #{1 2}}\n",
    "{:process 0, :type :ok, :f :read, :value 1}\r\n",
    "{:process :nemesis :type :info :f :kill}\n",
    '{:process 0 :type :ok :f :read :s "a}\n', ' b" :value 1}\n'])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(flat_line().map(lambda c: c[0]), OTHER_LINE), min_size=1, max_size=8))
def test_files_read_as_the_general_path_reads_them(tmp_path_factory: pytest.TempPathFactory,
                                                  lines: list[str]) -> None:
    """read_edn_lines builds an Op straight from a flat line's values; iter_maps
    reads flat lines between others: both give what the general path gives,
    the same ops or the same error, naming the same line."""
    p = tmp_path_factory.mktemp("flat") / "h.edn"
    p.write_text("".join(lines), encoding="utf-8", newline="")
    assert _outcome(read_edn_lines, p) == _general_only(read_edn_lines, p)
    assert _outcome(edn.read_edn, p) == _general_only(edn.read_edn, p)

    def maps(path: Path) -> list[object]:
        return list(iter_maps(enumerate(path.read_text().splitlines(True), 1), path))
    assert _outcome(maps, p) == _general_only(maps, p)


@pytest.mark.parametrize("text", [
    '{:a ["x"]}', '{:a ["x" 1] :b "y"}', '{"a" 1}', '{:a "x" "b" 2}', '{[1] 2}', "{:a :b(1)}",
    "{:a 1(2)}", "{:x(1) :y(2)}", "{:a 1 :a 2}", "{:a 1, :b}", "{:a [1 2] :b [3] :c []}",
    "{:a [1 [2]]}", "{:a [1] 2]}", "{:a 1]}", "{:a [1}", "{:a #_ 1 :b 2}", "{:a# 1 :b #foo}",
    "{:a 1.5M :b 7N}", "{:a 007}", "{:a 1_000}", "{:a\u20282}", "{:a\x1c2}", '{:a "é\x0c;#{"}',
    '{:a "x"}{:b 1}', "{}", "{ }", " {:a nil :b true :c false} ", "{:a 99999999999999999999999}",
    '{:a "x" "}', '{:a "x}', '{:a 1 :b "}"}', '{:a "x" :b "}',  # a string that runs on
])
def test_flat_lines_at_the_edges(text: str) -> None:
    flat = flat_map(text)
    if flat is not None:
        assert repr(dict(zip(*flat, strict=True))) == repr(_general(text)), text


OP = "{:process 0 :type :ok :f :read}\n"


@pytest.mark.parametrize(("text", "error"), [
    ("[\n" + OP, "2: unclosed"),  # the last line, read by flat_map, names it
    ("[\n" + OP + "\n", "3: unclosed"),
    ("[\n" + OP + "]\n" + OP, "4: expected end of file"),
    (OP + "[\n", "2: expected an op map {...}, found '['"),  # a map was seen
    ("{:process 0 :type :ok :f :read :index -5 :time 1.5}\n{:type :ok :f :read}\n",
     "2: expected an op map with"),
    ("{:process 0 :type :done :f :read}\n", "1: :type 'done'"),
    (OP + '{:process 0 :type :ok :f :read :s "a}\n b" :value 1}\n', None),  # a string runs on
])
def test_flat_lines_and_framing_errors(tmp_path: Path, text: str, error: str | None) -> None:
    p = tmp_path / "h.edn"
    p.write_text(text)
    fast, general = _outcome(read_edn_lines, p), _general_only(read_edn_lines, p)
    assert fast == general
    assert fast[0] == "ok" if error is None else fast[1].startswith(f"{p}:{error}")


def test_flat_lines_make_the_ops_op_from_dict_makes(tmp_path: Path) -> None:
    p = tmp_path / "h.edn"
    p.write_text("{:process 0 :type :invoke :f :read :index -5 :time 1.5 :x 1}\n"
                 "{:process 0 :type :ok :f 7 :index 9 :time true :value [1 2] :node \"n1\"}\n"
                 "{:process 0 :type :ok :f [1] :error [:e nil] :key \"k\"}\n")
    assert _outcome(read_edn_lines, p) == _general_only(read_edn_lines, p)
    ops = [op for _, op in read_edn_lines(p)]
    assert [(o.index, o.time, o.f, o.extra) for o in ops] == \
        [(0, -1, "read", {"x": 1}), (9, True, "7", {}), (2, -1, "[1]", {"key": "k"})]


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
