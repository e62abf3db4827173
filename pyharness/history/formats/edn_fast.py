"""A fast EDN reader for the shapes real histories have, streaming.

``edn_format`` builds a PLY lexer and parser on every call (about a
millisecond an op), so reading a 100k-op ``history.edn`` with it took
minutes. This module tokenizes each line with one regular expression and
builds values with an explicit stack (never recursion), already converted
the way :func:`to_python` converts ``edn_format``'s values: keywords to
their names, vectors and lists to lists, sets to sorted lists, ``nil`` to
``None``.

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

from pyharness.history import HistoryError

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
    with path.open(encoding="utf-8") as fh:
        lineno = 0
        try:
            for text in fh:
                lineno += 1
                yield lineno, text
        except UnicodeDecodeError:
            pass
        else:
            return
    from pyharness.history import utf8_error

    raise HistoryError(utf8_error(path))


def _token_lines(lines: Iterable[tuple[int, str]], path: Path
                 ) -> Iterator[tuple[int, list[str]]]:
    """(line, tokens starting on it); a string may run on over several lines."""
    it = iter(lines)
    for lineno, text in it:
        toks = _findall(text)
        if '"' not in text or '"' not in toks:  # no string runs on past this line
            yield lineno, toks
            continue
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
        line, pos = lineno, 0
        group: list[str] = []
        for m in _TOKEN.finditer(chunk):
            at = line + chunk.count("\n", pos, m.start())
            pos = m.start()
            if at != line and group:
                yield line, group
                group = []
            line = at
            group.append(m.group(0))
        if group:
            yield line, group


def iter_maps(lines: Iterable[tuple[int, str]], path: Path) -> Iterator[tuple[int, Any]]:
    """(line, value) of each top-level op map, inside an optional outer [..] or (..).

    The framing is the old reader's: maps one after another, or inside one
    outer vector or list; ``;`` comments anywhere; nothing but blanks and
    comments after the outer collection closes."""
    base = 0  # depth at which op maps sit: 1 inside an outer vector or list
    depth = 0  # 0 or 1 here: the outer collection
    seen = closed = False
    pend: list[str] | None = None  # an op map that goes on past its line
    pend_line = pend_depth = 0
    lineno = 0
    for lineno, toks in _token_lines(lines, path):
        i, n = 0, len(toks)
        if pend is not None:
            try:
                j, pend_depth = _form_end(toks, 0, n, pend_depth)
            except _TooDeep:
                raise HistoryError(f"{path}:{lineno}: expected an EDN op map nested at most "
                                   f"{MAX_DEPTH} deep") from None
            if j is None:
                pend.extend(toks)
                continue
            pend.extend(toks[:j])
            done = _form(pend, 0, len(pend), path, pend_line)
            assert done is not None
            yield pend_line, done[0]
            pend, i = None, j
        while i < n:
            t = toks[i]
            c = t[0]
            if c == ";":
                i += 1
                continue
            if closed:
                raise HistoryError(f"{path}:{lineno}: expected end of file after the closing "
                                   "bracket")
            if t == "{" and depth == base:
                seen = True
                done = _form(toks, i, n, path, lineno)
                if done is None:
                    pend, pend_line = toks[i:], lineno
                    _, pend_depth = _form_end(toks, i, n)
                    break
                yield lineno, done[0]
                i = done[1]
                continue
            if c == '"' and len(t) > 1:
                pass  # a string between op maps is skipped, as it always was
            elif not seen and t in ("[", "("):
                base = depth = 1
            elif t in ("]", ")", "}"):
                if depth == 0:
                    raise HistoryError(f"{path}:{lineno}: unbalanced {t!r}")
                depth = 0
                closed = True
            else:
                raise HistoryError(f"{path}:{lineno}: expected an op map {{...}}, found "
                                   f"{c!r}")
            seen = True
            i += 1
    if pend is not None:
        raise HistoryError(f"{path}:{pend_line}: unclosed map or vector at end of file")
    if depth > 0:
        raise HistoryError(f"{path}:{lineno}: unclosed map or vector at end of file")
