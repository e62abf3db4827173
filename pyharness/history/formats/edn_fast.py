"""A fast EDN reader for the shapes real histories have, streaming.

``edn_format`` builds a PLY lexer and parser on every call (about a
millisecond an op), so reading a 100k-op ``history.edn`` with it took
minutes. This module tokenizes each line with one regular expression and
builds values with an explicit stack (never recursion), already converted
the way :func:`to_python` converts ``edn_format``'s values: keywords to
their names, vectors and lists to lists, sets to sorted lists, ``nil`` to
``None``. A line holding just one flat op map, as nearly every line Jepsen
writes does, is read by :func:`flat_map` with str methods instead, to the
same value, in half the time.

The fast path understands keywords (``:jepsen.foo/bar`` too), integers,
floats, ``nil``, ``true``, ``false``, strings with escapes, vectors, lists,
maps, and sets of scalars. Any form holding something else (symbols, tagged
values, characters, ``#_``, metadata, big or decimal numbers, maps whose keys
collide once converted) is handed whole to ``edn_format``, so the result is
the same Python object the old reader produced. The differential test
``tests/unit/test_edn_fast.py`` holds the two to that.

Two deliberate differences, both more lenient: every Unicode whitespace
character (``\\r`` from CRLF files, ``\\f``) separates tokens, as the Clojure
reader's ``isWhitespace`` does, where ``edn_format`` only takes space, tab,
newline and comma; and nesting deeper than :data:`MAX_DEPTH` is an error
naming ``file:line`` rather than a ``RecursionError`` later.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyharness.history import HistoryError, utf8_lines

MAX_DEPTH = 100  # deeper EDN is refused: checkers and reports recurse on values

# One token: a string, a bracket, a set opener, a comment, an atom, or (last)
# the quote of a string that does not end on this line. Whitespace and commas
# match nothing, so findall skips them.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\](){}]|#\{|;[^\n]*|[^\s,\[\](){}";]+|"')
_findall = _TOKEN.findall

# edn_format's own number and keyword syntax, ASCII digits only
_FLOAT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)").fullmatch
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)").fullmatch
_KW_CHARS = r"[\w.*+!\-_?$%&=:#<>@]+"
_KEYWORD = re.compile(f":{_KW_CHARS}(?:/{_KW_CHARS})?").fullmatch

# edn_format's string escapes, decoded as it decodes them
_ESCAPE = re.compile(r"""(\\U........|\\u....|\\x..|\\[0-7]{1,3}|\\N\{[^}]+\}|\\[\\'"abfnrtv])""")

_MAX_MERGED_LINES = 10_000  # a string may span lines, but not without end
_MAX_MERGED_CHARS = 1 << 20


class _Unsupported(Exception):
    """The fast path does not read this form; edn_format will."""


class _Incomplete(Exception):
    """The form goes on past the tokens given."""


class _TooDeep(Exception):
    pass


_OPEN = {"{": "}", "[": "]", "(": ")", "#{": "}"}
_CLOSE = frozenset("}])")
_atoms: dict[str, Any] = {"nil": None, "true": True, "false": False}
_MISSING = object()


def _remember(t: str, v: Any) -> None:
    if len(_atoms) < 50_000:
        _atoms[t] = v


def _decode_match(m: re.Match[str]) -> str:
    return codecs.decode(m.group(0), "unicode-escape")


def _string(t: str) -> str:
    s = t[1:-1]
    if "\\" in s:
        try:
            s = _ESCAPE.sub(_decode_match, s)
        except Exception:  # a bad \u escape: edn_format raises too
            raise _Unsupported from None
    return s


def _atom(t: str) -> Any:
    """A keyword's name, an int or a float; _Unsupported for anything else."""
    c = t[0]
    if c == ":":
        if _KEYWORD(t):
            v: Any = t[1:]
            _remember(t, v)
            return v
    elif c in "0123456789+-":
        if _INT(t):
            v = int(t)
            if len(t) <= 3:
                _remember(t, v)
            return v
        if _FLOAT(t):
            return float(t)
    raise _Unsupported


def _set_of(toks: Sequence[str]) -> list[Any]:
    """A set of scalars as to_python gives it: distinct as EDN values, sorted by repr."""
    raw: list[Any] = []
    for t in toks:
        c = t[0]
        if c == ";":
            continue
        if c == '"':
            raw.append(_string(t))
        elif c in "[({#":
            raise _Unsupported  # sets of collections: edn_format's job
        else:
            v = _atoms.get(t, _MISSING)
            if v is _MISSING:
                v = _atom(t)
            # a keyword and a string of the same name are distinct EDN values
            raw.append(("\0kw", v) if c == ":" else v)
    unique = frozenset(raw)
    return sorted((x[1] if type(x) is tuple else x for x in unique), key=repr)


def _parse(toks: list[str], i: int, n: int) -> tuple[Any, int]:
    """The value of the collection opening at ``toks[i]``, and the index after it."""
    stack: list[tuple[str, list[Any], int]] = []
    opener = toks[i]
    items: list[Any] = []
    start = i
    i += 1
    atoms = _atoms
    while True:
        if i >= n:
            raise _Incomplete
        t = toks[i]
        i += 1
        v = atoms.get(t, _MISSING)
        if v is not _MISSING:
            items.append(v)
            continue
        c = t[0]
        if c == '"':
            items.append(_string(t))
        elif c in "123456789" and t.isdigit() and t.isascii():
            items.append(int(t))
        elif t in _OPEN:
            stack.append((opener, items, start))
            if len(stack) >= MAX_DEPTH:
                raise _TooDeep
            opener, items, start = t, [], i - 1
        elif c in _CLOSE:
            if _OPEN[opener] != t:
                raise _Unsupported  # mismatched brackets: let edn_format say so
            if opener == "{":
                if len(items) & 1:
                    raise _Unsupported
                try:
                    v = dict(zip(items[::2], items[1::2], strict=True))
                except TypeError:  # a vector or map as a key: not hashable once converted
                    raise _Unsupported from None
                if 2 * len(v) != len(items):
                    raise _Unsupported  # keys that collide once converted
            elif opener == "#{":
                v = _set_of(toks[start + 1:i - 1])
            else:
                v = items
            if not stack:
                return v, i
            opener, items, start = stack.pop()
            items.append(v)
        elif c == ";":
            continue
        else:
            items.append(_atom(t))


def _form_end(toks: list[str], i: int, n: int, depth: int = 0) -> tuple[int | None, int]:
    """(index after the form, or None if it goes on; depth reached) by counting brackets."""
    while i < n:
        t = toks[i]
        i += 1
        if t in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooDeep
        elif t in _CLOSE:
            depth -= 1
            if depth == 0:
                return i, 0
    return None, depth


def to_python(v: Any, depth: int = 0) -> Any:
    """EDN values to plain Python: keywords/symbols to names, sequences to lists."""
    from edn_format.edn_lex import Keyword, Symbol

    if depth > MAX_DEPTH:
        raise _TooDeep
    if isinstance(v, Keyword | Symbol):
        return v.name
    if isinstance(v, Mapping):
        return {to_python(k, depth + 1): to_python(x, depth + 1) for k, x in v.items()}
    if isinstance(v, frozenset | set):
        return sorted((to_python(x, depth + 1) for x in v), key=repr)
    if isinstance(v, Sequence) and not isinstance(v, str):
        return [to_python(x, depth + 1) for x in v]
    return v


def _fallback(src: str) -> Any:
    """edn_format's reading of one form, converted; ValueError on bad syntax."""
    import edn_format

    try:
        v = edn_format.loads(src)
    except Exception as e:  # edn_format raises several types for bad syntax
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(msg) from None
    try:
        return to_python(v)
    except TypeError as e:  # e.g. a vector as a map key: unhashable once converted
        raise ValueError(f"a map key that is not a scalar ({e})") from None


def _form(toks: list[str], i: int, n: int, path: Path, line: int,
          what: str = "an EDN op map") -> tuple[Any, int] | None:
    """The form at toks[i] and the index after it; None if it goes on past n."""
    try:
        return _parse(toks, i, n)
    except (_Unsupported, _Incomplete):
        pass
    except _TooDeep:
        raise HistoryError(f"{path}:{line}: expected {what} nested at most {MAX_DEPTH} "
                           "deep") from None
    try:
        j, _ = _form_end(toks, i, n)
    except _TooDeep:
        raise HistoryError(f"{path}:{line}: expected {what} nested at most {MAX_DEPTH} "
                           "deep") from None
    if j is None:
        return None
    try:
        return _fallback("\n".join(toks[i:j])), j
    except ValueError as e:
        raise HistoryError(f"{path}:{line}: expected {what}: {e}") from None
    except _TooDeep:
        raise HistoryError(f"{path}:{line}: expected {what} nested at most {MAX_DEPTH} "
                           "deep") from None


def loads(text: str) -> Any:
    """One EDN value (the first, as ``edn_format.loads``), as :func:`to_python` gives it.

    ValueError on bad syntax or nesting deeper than :data:`MAX_DEPTH`."""
    try:
        return parse_fast(text)
    except _Unsupported:
        pass
    except _TooDeep:
        raise ValueError(f"nested more than {MAX_DEPTH} deep") from None
    toks = _findall(text)
    try:
        _form_end(toks, 0, len(toks))
    except _TooDeep:
        raise ValueError(f"nested more than {MAX_DEPTH} deep") from None
    try:
        return _fallback(text)
    except _TooDeep:
        raise ValueError(f"nested more than {MAX_DEPTH} deep") from None


def parse_fast(text: str) -> Any:
    """The fast path alone: one value of the supported shapes, else ``_Unsupported``."""
    toks = [t for t in _findall(text) if t[0] != ";"]
    if not toks:
        raise _Unsupported
    t = toks[0]
    if t in _OPEN:
        try:
            v, j = _parse(toks, 0, len(toks))
        except _Incomplete:
            raise _Unsupported from None
    else:
        v = _atoms.get(t, _MISSING)
        if v is _MISSING:
            if t[0] == '"':
                if len(t) < 2:
                    raise _Unsupported
                v = _string(t)
            elif t[0] in _CLOSE:
                raise _Unsupported
            else:
                v = _atom(t)
        j = 1
    if j != len(toks):
        raise _Unsupported  # more forms: edn_format reads them all, then gives the first
    return v


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, streaming; bad UTF-8 is a HistoryError
    naming the line and the byte offset."""
    with utf8_lines(path) as numbered:
        yield from numbered


# --- a line holding one flat op map: nearly every line Jepsen writes
#
# findall makes a match object for every token (half the cost of a line), so
# such a line is split with str methods, its tokens looked up in one C-level
# map over a cache, and only what the cache misses (an op's index and time)
# converted in Python. Any other line goes the general way, token by token.


class _FlatAtoms(dict[str, Any]):
    """Token -> value, as _parse converts it; a miss is converted by __missing__."""

    def __missing__(self, t: str) -> Any:
        if t.isdigit() and t.isascii() and t[0] != "0":  # _parse's test for a plain int
            v: Any = int(t)
        else:
            v = _atom(t)  # _Unsupported for what the fast path does not read
        if (len(t) <= 3 or type(v) is str) and len(self) < _FLAT_CACHE_MAX:
            self[t] = v  # keywords and small numbers recur; indexes and times do not
        return v


_FLAT_CACHE_MAX = 50_000
# "[" and '"' stand for a vector and a string, put in their place afterwards
_flat_atoms = _FlatAtoms({"nil": None, "true": True, "false": False, "[": None, '"': None})
_flat_get = _flat_atoms.__getitem__
_shapes: dict[tuple[str, ...], tuple[str, ...] | None] = {}  # key tokens -> names


def _shape(keys: tuple[str, ...]) -> tuple[str, ...] | None:
    """The names of the keys if every one is a keyword and no two are the same."""
    names = tuple(t[1:] for t in keys if t[0] == ":" and _KEYWORD(t))
    if len(names) != len(keys) or len(set(names)) != len(names):
        return None  # a key of another kind, or keys that collide: _parse's job
    return names


def flat_map(text: str) -> tuple[tuple[str, ...], list[Any]] | None:
    """(key names, values) of a line that holds one op map and nothing else, whose
    keys are keywords and whose values are scalars, strings without escapes, or
    vectors of scalars; None for any other line, which the general path reads.

    Where this gives a map, it is the one _parse gives for the line's tokens."""
    s = text.strip()  # the same whitespace as \s in _TOKEN
    if s[:1] != "{" or s[-1:] != "}":
        return None
    body = s[1:-1]
    strings = None
    if '"' in body:
        if "\\" in body:
            return None  # an escape, or a character outside a string
        parts = body.split('"')
        if not len(parts) & 1:
            return None  # a string that runs on past this line
        strings = parts[1::2]
        body = ' " '.join(parts[0::2])
    elif "\\" in body:
        return None
    if "{" in body or "}" in body or "(" in body or ")" in body or ";" in body:
        return None  # nested maps, sets, lists, comments (a tag or #_ is not an atom)
    if "," in body:
        body = body.replace(",", " ")
    vectors = None
    if "[" in body:
        parts = body.split("[")
        if "]" in parts[0]:
            return None
        toks = parts[0].split()
        vectors = []
        for part in parts[1:]:
            inner, close, after = part.partition("]")
            if not close or "]" in after or '"' in inner:
                return None  # nested or unbalanced, or a string in a vector
            vectors.append((len(toks), inner))
            toks.append("[")
            toks += after.split()
    elif "]" in body:
        return None
    else:
        toks = body.split()
    if len(toks) & 1:
        return None
    keys = tuple(toks[0::2])
    names = _shapes.get(keys, _MISSING)
    if names is _MISSING:
        names = _shape(keys)
        if len(_shapes) < 10_000:
            _shapes[keys] = names
    if names is None:
        return None  # this includes a vector or a string as a key: "[" or '"'
    try:
        values = list(map(_flat_get, toks[1::2]))
        if vectors:
            for at, inner in vectors:
                values[at >> 1] = list(map(_flat_get, inner.split()))
    except _Unsupported:
        return None
    if strings is not None:
        at = -1
        for x in strings:
            at = toks.index('"', at + 1)
            values[at >> 1] = x
    return names, values


def _line_tokens(lineno: int, text: str, it: Iterator[tuple[int, str]], path: Path
                 ) -> list[tuple[int, list[str]]]:
    """(line, tokens starting on it) for this line; a string may run on over
    several lines, which are then read from ``it``."""
    toks = _findall(text)
    if '"' not in text or '"' not in toks:  # no string runs on past this line
        return [(lineno, toks)]
    parts = [text]
    size = len(text)
    while True:
        nxt = next(it, None)
        if nxt is None:
            raise HistoryError(f"{path}:{lineno}: expected a closing \" of the string "
                               "opened here, found the end of the file")
        parts.append(nxt[1])
        size += len(nxt[1])
        if len(parts) > _MAX_MERGED_LINES or size > _MAX_MERGED_CHARS:
            raise HistoryError(f"{path}:{lineno}: expected a closing \" of the string "
                               f"opened here within {_MAX_MERGED_LINES} lines")
        if '"' in nxt[1] and '"' not in (toks := _findall("".join(parts))):
            break
    chunk = "".join(parts)
    groups: list[tuple[int, list[str]]] = []
    line, pos = lineno, 0
    group: list[str] = []
    for m in _TOKEN.finditer(chunk):
        at = line + chunk.count("\n", pos, m.start())
        pos = m.start()
        if at != line and group:
            groups.append((line, group))
            group = []
        line = at
        group.append(m.group(0))
    if group:
        groups.append((line, group))
    return groups


class Framing:
    """Where a reader is in a history's framing, fed one line at a time.

    The framing is the old reader's: maps one after another, or inside one
    outer vector or list; ``;`` comments anywhere; nothing but blanks and
    comments after the outer collection closes. While :attr:`ready` (between
    op maps, at their depth), a line that :func:`flat_map` reads is an op map
    and the caller sets :attr:`seen`; any other line goes to :meth:`feed`."""

    __slots__ = ("base", "closed", "depth", "fed", "lineno", "path", "pend", "pend_depth",
                 "pend_line", "ready", "seen")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = 0  # depth at which op maps sit: 1 inside an outer vector or list
        self.depth = 0  # 0 or 1 here: the outer collection
        self.seen = self.closed = False
        self.pend: list[str] | None = None  # an op map that goes on past its line
        self.pend_line = self.pend_depth = 0
        self.lineno = 0  # the line of the last tokens fed
        self.fed = 0  # the last line given to feed
        self.ready = True  # no map pending and the outer collection not closed

    def feed(self, first: int, text: str, it: Iterator[tuple[int, str]]
             ) -> Iterator[tuple[int, Any]]:
        """(line, value) of each op map that ends on line ``first``, or on the
        lines a string runs on into (read from ``it``)."""
        path = self.path
        self.fed = first
        for lineno, toks in _line_tokens(first, text, it, path):
            self.lineno = lineno
            i, n = 0, len(toks)
            if self.pend is not None:
                try:
                    j, self.pend_depth = _form_end(toks, 0, n, self.pend_depth)
                except _TooDeep:
                    raise HistoryError(f"{path}:{lineno}: expected an EDN op map nested at "
                                       f"most {MAX_DEPTH} deep") from None
                if j is None:
                    self.pend.extend(toks)
                    continue
                pend = self.pend
                pend.extend(toks[:j])
                done = _form(pend, 0, len(pend), path, self.pend_line)
                assert done is not None
                self.pend = None
                yield self.pend_line, done[0]
                i = j
            while i < n:
                t = toks[i]
                c = t[0]
                if c == ";":
                    i += 1
                    continue
                if self.closed:
                    raise HistoryError(f"{path}:{lineno}: expected end of file after the "
                                       "closing bracket")
                if t == "{" and self.depth == self.base:
                    self.seen = True
                    done = _form(toks, i, n, path, lineno)
                    if done is None:
                        self.pend, self.pend_line = toks[i:], lineno
                        _, self.pend_depth = _form_end(toks, i, n)
                        break
                    yield lineno, done[0]
                    i = done[1]
                    continue
                if c == '"' and len(t) > 1:
                    pass  # a string between op maps is skipped, as it always was
                elif not self.seen and t in ("[", "("):
                    self.base = self.depth = 1
                elif t in ("]", ")", "}"):
                    if self.depth == 0:
                        raise HistoryError(f"{path}:{lineno}: unbalanced {t!r}")
                    self.depth = 0
                    self.closed = True
                else:
                    raise HistoryError(f"{path}:{lineno}: expected an op map {{...}}, found "
                                       f"{c!r}")
                self.seen = True
                i += 1
        self.ready = self.pend is None and not self.closed

    def finish(self, lineno: int) -> None:
        """At the end of the file, whose last line was ``lineno``: nothing left open."""
        if lineno > self.fed:  # the last line was read by flat_map
            self.lineno = lineno
        if self.pend is not None:
            raise HistoryError(f"{self.path}:{self.pend_line}: unclosed map or vector at end "
                               "of file")
        if self.depth > 0:
            raise HistoryError(f"{self.path}:{self.lineno}: unclosed map or vector at end of "
                               "file")


def iter_maps(lines: Iterable[tuple[int, str]], path: Path) -> Iterator[tuple[int, Any]]:
    """(line, value) of each top-level op map, inside an optional outer [..] or (..),
    with the framing :class:`Framing` describes."""
    framing = Framing(path)
    it = iter(lines)
    lineno = 0
    for lineno, text in it:
        if framing.ready:
            flat = flat_map(text)
            if flat is not None:
                framing.seen = True
                yield lineno, dict(zip(*flat, strict=True))
                continue
        yield from framing.feed(lineno, text, it)
    framing.finish(lineno)
