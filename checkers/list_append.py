"""Elle's list-append checker: transactional anomalies from append-only lists.

A *list-append* history is made of transactions (f ``txn``), each a short
list of micro-ops over a few keys, in Jepsen's ``:txn`` shape::

    [["append", 3, 12], ["r", 4, None]]            # as invoked
    [["append", 3, 12], ["r", 4, [1, 7, 9]]]       # as completed ok

Every value appended to a key is unique. That makes the history *recoverable*
(Kingsbury and Alvaro, "Elle", VLDB 2020): a read of ``[1, 7, 9]`` names the
transaction that appended each element, and because lists only grow, the
longest read of a key gives its *version order*: every other read must be a
prefix of it. From there the checker builds Adya's direct serialization graph
over the committed (``ok``) and possibly committed (``info``) transactions:

- **ww** (write-write): T1 appended the element just before T2's in the
  version order of some key;
- **wr** (write-read): T2 read a list whose last element T1 appended;
- **rw** (read-write, anti-dependency): T1 read a prefix of a key and T2
  appended the next element, which T1 did not see;
- **process**: the same process ran T1, then T2;
- **realtime**: T1 completed before T2 was invoked (kept transitively
  reduced: a frontier of recently completed transactions, as Elle does).

A serializable execution is an order of the transactions that agrees with
every ww, wr and rw edge, so any cycle of them is an anomaly. Strongly
connected components (Tarjan's algorithm) locate the cycles; each component is
then searched for the smallest cycle of each kind, and the cycle is named by
the edges it needs:

=================  ===========================================================
``G0``             write cycle: ww edges only
``G1c``            circular information flow: ww and wr, at least one wr
``G-single``       exactly one rw edge (read skew)
``G-nonadjacent``  several rw edges, no two adjacent
``G2-item``        several rw edges, some adjacent (write skew)
=================  ===========================================================

and ``-process`` or ``-realtime`` when the cycle also needs a process or a
real-time edge (those are anomalies only for session or strict models).
Beside cycles, the checker reports what needs no graph: **G1a** (a read saw
an element appended by a transaction that failed), **G1b** (a read ended in
an element its writer later overwrote within the same transaction: an
intermediate state), **internal** inconsistency (a transaction's read
disagrees with its own earlier reads and appends), **duplicate-elements** in a
read, and **incompatible-order** (two reads of a key that are not prefixes of
one another: no single version order exists).

The consistency model (default ``strict-serializable``, etcd's promise)
decides which anomalies make the history invalid. Each anomaly is explained
the way Elle does: the transactions in full, and for every edge of a cycle
why it exists, ending in the contradiction. :func:`write_cycles_html` draws
each cycle as SVG.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN
from pyharness.history import FAIL, INFO, INVOKE, OK, Op
from pyharness.history.formats.txn import parse_mops

# Edge relations, as bits of one mask per ordered pair of transactions.
WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
# When an edge carries several relations, the one a cycle is explained by:
# the weakest, so a cycle is named for the least it needs.
_PREFERENCE = (WW, WR, PROCESS, REALTIME, RW)

CYCLE_TYPES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")
_BASE = ("G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent", "G2-item")
_SI = ("G0", "G1a", "G1b", "G1c", "G-single", "G-nonadjacent")


def _variants(names: Iterable[str], suffixes: Iterable[str]) -> set[str]:
    return {n + s for n in names for s in suffixes if not (s and n in ("G1a", "G1b"))}


#: Which anomalies each consistency model forbids (after Elle's models).
#: Internal inconsistency, duplicate elements and incompatible orders are
#: forbidden by every model.
PROHIBITED: dict[str, set[str]] = {
    "read-uncommitted": {"G0"},
    "read-committed": {"G0", "G1a", "G1b", "G1c"},
    "snapshot-isolation": set(_SI),
    "strong-snapshot-isolation": _variants(_SI, ("", "-process", "-realtime")),
    "repeatable-read": set(_BASE) - {"G-nonadjacent"},
    "serializable": set(_BASE),
    "strong-session-serializable": _variants(_BASE, ("", "-process")),
    "strict-serializable": _variants(_BASE, ("", "-process", "-realtime")),
}
ALWAYS_PROHIBITED = {"internal", "duplicate-elements", "incompatible-order"}
MODELS = tuple(PROHIBITED)

#: Cycles detailed per anomaly type; counts stay exact.
MAX_CYCLES_PER_TYPE = 10
#: Examples detailed for the non-cycle anomalies.
MAX_EXAMPLES = 20
#: Start edges tried per component and kind, looking for a short cycle.
MAX_CYCLE_STARTS = 32
#: Start edges tried per component when searching for a G-nonadjacent cycle.
MAX_NONADJACENT_STARTS = 200


@dataclass(slots=True)
class Txn:
    """One transaction: a graph node if ``ok`` or ``info``."""

    id: int
    invoke: Op
    complete: Op | None
    type: str
    mops: list[tuple[str, Any, Any]]

    @property
    def op(self) -> Op:
        """The op that best describes it: the completion if there is one."""
        return self.complete if self.complete is not None else self.invoke

    def describe(self) -> dict[str, Any]:
        op = self.op
        d = {"index": op.index, "time": op.time, "process": op.process, "type": self.type,
             "f": op.f, "value": [list(m) for m in self.mops]}
        if self.invoke.node is not None:
            d["node"] = self.invoke.node
        if op.error is not None:
            d["error"] = op.error
        return d


def transactions(history: Sequence[Op], f: str = "txn") -> tuple[list[Txn], list[Txn]]:
    """(graph nodes: ok and info txns, with ids 0..n-1; failed txns).

    An ok txn is described by its completion (reads filled in); an info or
    never-completed one by its invocation (its appends may have happened,
    its reads are unknown)."""
    nodes: list[Txn] = []
    failed: list[Txn] = []
    open_: dict[Any, Op] = {}
    for op in history:
        if not op.is_client or op.f != f:
            continue
        if op.type == INVOKE:
            if op.process in open_:
                _add_txn(open_.pop(op.process), None, nodes, failed)
            open_[op.process] = op
            continue
        inv = open_.pop(op.process, None)
        if inv is None:
            continue
        _add_txn(inv, op, nodes, failed)
    for inv in open_.values():
        _add_txn(inv, None, nodes, failed)
    return nodes, failed


def _add_txn(inv: Op, comp: Op | None, nodes: list[Txn], failed: list[Txn]) -> None:
    kind = INFO if comp is None else comp.type
    if kind == OK:
        src = comp.value if comp is not None and comp.value is not None else inv.value
        nodes.append(Txn(len(nodes), inv, comp, OK, parse_mops(src, True)))
    elif kind == FAIL:
        failed.append(Txn(-1, inv, comp, FAIL, parse_mops(inv.value, False)))
    else:
        nodes.append(Txn(len(nodes), inv, comp, INFO, parse_mops(inv.value, False)))


# --------------------------------------------------------------------------
# Strongly connected components and cycle search


def tarjan(n: int, succ: Sequence[Iterable[int]]) -> list[list[int]]:
    """Strongly connected components of more than one node, iteratively."""
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, it = work[-1]
            pushed = False
            for w in it:
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, iter(succ[w])))
                    pushed = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if pushed:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


Edge = tuple[int, int, int]  # (from, to, the one relation bit it is explained by)


def _label(mask: int, allowed: int) -> int:
    for bit in _PREFERENCE:
        if mask & allowed & bit:
            return bit
    return 0


def _bfs(adj: Sequence[Mapping[int, int]], members: set[int], allowed: int, src: int,
         dst: int) -> list[Edge] | None:
    """Shortest path src ⇝ dst inside ``members`` over ``allowed`` relations."""
    if src == dst:
        return []
    prev: dict[int, tuple[int, int]] = {src: (-1, 0)}
    frontier = [src]
    while frontier:
        nxt = []
        for u in frontier:
            for v, m in adj[u].items():
                if v in prev or v not in members or not m & allowed:
                    continue
                prev[v] = (u, _label(m, allowed))
                if v == dst:
                    path: list[Edge] = []
                    while v != src:
                        p, bit = prev[v]
                        path.append((p, v, bit))
                        v = p
                    return path[::-1]
                nxt.append(v)
        frontier = nxt
    return None


def _bfs_nonadjacent(adj: Sequence[Mapping[int, int]], members: set[int], allowed: int,
                     src: int, dst: int) -> list[Edge] | None:
    """Shortest path from ``src`` (just entered by an rw edge) to ``dst``,
    entering ``dst`` by a non-rw edge, never taking two rw edges in a row."""
    start = (src, True)
    prev: dict[tuple[int, bool], tuple[tuple[int, bool], int] | None] = {start: None}
    frontier = [start]
    goal = (dst, False)
    while frontier:
        nxt = []
        for state in frontier:
            u, after_rw = state
            for v, m in adj[u].items():
                if v not in members or not m & allowed:
                    continue
                choices = []
                plain = _label(m & ~RW, allowed)
                if plain:
                    choices.append(((v, False), plain))
                if m & RW & allowed and not after_rw:
                    choices.append(((v, True), RW))
                for s, bit in choices:
                    if s in prev:
                        continue
                    prev[s] = (state, bit)
                    if s == goal:
                        path: list[Edge] = []
                        cur = s
                        while prev[cur] is not None:
                            p, b = prev[cur]  # type: ignore[misc]
                            path.append((p[0], cur[0], b))
                            cur = p
                        return path[::-1]
                    nxt.append(s)
        frontier = nxt
    return None


def _sub_sccs(adj: Sequence[Mapping[int, int]], members: list[int],
              allowed: int) -> dict[int, int]:
    """Component number of each member in the subgraph of ``allowed`` edges."""
    local = {v: i for i, v in enumerate(members)}
    succ = [[local[w] for w, m in adj[v].items() if m & allowed and w in local]
            for v in members]
    comp: dict[int, int] = {}
    for c, nodes in enumerate(tarjan(len(members), succ)):
        for i in nodes:
            comp[members[i]] = c
    return comp


def classify(cycle: Sequence[Edge]) -> str:
    """Name a cycle by the relations its edges are explained by."""
    bits = [b for _, _, b in cycle]
    rws = [i for i, b in enumerate(bits) if b == RW]
    n = len(bits)
    if not rws:
        name = "G0" if all(b in (WW, PROCESS, REALTIME) for b in bits) else "G1c"
    elif len(rws) == 1:
        name = "G-single"
    elif any(bits[(i + 1) % n] == RW for i in rws):
        name = "G2-item"
    else:
        name = "G-nonadjacent"
    if REALTIME in bits:
        return name + "-realtime"
    if PROCESS in bits:
        return name + "-process"
    return name


def find_cycles(adj: Sequence[Mapping[int, int]], component: list[int],
                relations: int) -> list[list[Edge]]:
    """For one strongly connected component, one smallest cycle of each kind.

    Searches in order of increasing strength: data edges alone, then with
    process edges, then with real-time edges too (as ``relations`` allows).
    Each kind's search is complete except G-nonadjacent's, which tries a
    bounded number of start edges."""
    members = set(component)
    found: dict[str, list[Edge]] = {}
    extras = [0] + [x for x in (PROCESS, PROCESS | REALTIME) if relations & x == x]
    for extra in extras:
        # (start relation, allowed relations for the rest of the cycle)
        for start, rest in ((WW | extra, WW | extra), (WR, WW | WR | extra),
                            (RW, WW | WR | extra), (RW, DATA | extra)):
            # A start edge u→v closes a cycle iff v ⇝ u over the other relations.
            # Of the first few such edges, keep the shortest cycle.
            comp = _sub_sccs(adj, component, rest)
            subs: dict[int, set[int]] = {}
            for w, c in comp.items():
                subs.setdefault(c, set()).add(w)
            best: list[Edge] | None = None
            # A huge component gets fewer tries: each BFS may cross all of it.
            starts = MAX_CYCLE_STARTS if len(component) < 1000 else 4
            tries = 0
            for u in component:
                cu = comp.get(u)
                if cu is None:
                    continue
                for v, m in adj[u].items():
                    if not m & start or comp.get(v) != cu:
                        continue
                    back = _bfs(adj, subs[cu], rest, v, u)
                    tries += 1
                    if back is not None and (best is None or len(back) + 1 < len(best)):
                        best = [(u, v, _label(m, start)), *back]
                    if tries >= starts or (best is not None and len(best) == 2):
                        break
                if tries >= starts or (best is not None and len(best) == 2):
                    break
            if best is not None:
                found.setdefault(classify(best), best)
        # G-nonadjacent: rw edges separated by at least one other edge.
        allowed = DATA | extra
        size = sum(len(adj[u]) for u in component)
        budget = max(1, min(MAX_NONADJACENT_STARTS, 2_000_000 // max(size, 1)))
        tried = 0
        for u in component:
            for v, m in adj[u].items():
                if not m & RW or v not in members:
                    continue
                tried += 1
                back = _bfs_nonadjacent(adj, members, allowed, v, u)
                if back is not None:
                    cyc = [(u, v, RW), *back]
                    found.setdefault(classify(cyc), cyc)
                    tried = budget
                if tried >= budget:
                    break
            if tried >= budget:
                break
    return list(found.values())


# --------------------------------------------------------------------------
# The analysis


@dataclass
class Analysis:
    """Everything inferred from a history: indexes, graph, anomalies."""

    nodes: list[Txn]
    failed: list[Txn]
    adj: list[dict[int, int]]
    orders: dict[Any, list[Any]]
    writer: dict[tuple[Any, Any], int]
    #: key → ok txns whose append to it no read observed
    unobserved: dict[Any, set[int]] = field(default_factory=dict)
    anomalies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, detail: dict[str, Any] | Callable[[], dict[str, Any]],
            limit: int = MAX_EXAMPLES) -> None:
        """Count one anomaly; detail it (``detail`` may be a thunk) while
        fewer than ``limit`` of its kind are detailed."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        lst = self.anomalies.setdefault(kind, [])
        if len(lst) < limit:
            lst.append(detail() if callable(detail) else detail)


def _external_reads(t: Txn) -> Iterable[tuple[Any, list[Any]]]:
    """Reads of keys this txn had not yet appended to (what it saw of others)."""
    written: set[Any] = set()
    for f, k, v in t.mops:
        if f == "append":
            written.add(k)
        elif v is not None and k not in written:
            yield k, v


def _internal(t: Txn, a: Analysis) -> None:
    exact: dict[Any, list[Any]] = {}
    suffix: dict[Any, list[Any]] = {}
    for f, k, v in t.mops:
        if f == "append":
            if k in exact:
                exact[k].append(v)
            else:
                suffix.setdefault(k, []).append(v)
            continue
        if k in exact:
            expected: Any = exact[k]
            good = v == expected
        elif k in suffix:
            s = suffix[k]
            expected = ["...", *s]
            good = len(v) >= len(s) and v[len(v) - len(s):] == s
        else:
            exact[k] = list(v)
            continue
        if not good:
            a.add("internal", {"op": t.describe(), "mop": ["r", k, v], "expected": expected})
        exact[k] = list(v)
        suffix.pop(k, None)


def analyze(history: Sequence[Op], relations: int = DATA | PROCESS | REALTIME) -> Analysis:
    nodes, failed = transactions(history)
    writer: dict[tuple[Any, Any], int] = {}
    last_append: dict[tuple[int, Any], Any] = {}
    for t in nodes:
        for f, k, v in t.mops:
            if f == "append":
                writer.setdefault((k, v), t.id)
                last_append[(t.id, k)] = v
    failed_writer: dict[tuple[Any, Any], Txn] = {}
    for t in failed:
        for f, k, v in t.mops:
            if f == "append":
                failed_writer.setdefault((k, v), t)
    a = Analysis(nodes, failed, [{} for _ in nodes], {}, writer)

    # Per-read checks, and the longest read of each key.
    longest: dict[Any, list[Any]] = {}
    observed: dict[Any, set[Any]] = {}
    for t in nodes:
        if t.type != OK:
            continue
        _internal(t, a)
        for f, k, v in t.mops:
            if f != "r":
                continue
            if len(set(v)) != len(v):
                dups = sorted((x for x, c in Counter(v).items() if c > 1), key=repr)
                a.add("duplicate-elements", {"op": t.describe(), "key": k, "value": v,
                                             "duplicates": dups})
            for x in v:
                if (k, x) not in writer and (k, x) in failed_writer:
                    a.add("G1a", {"op": t.describe(), "key": k, "element": x,
                                  "writer": failed_writer[(k, x)].describe()})
            if v:
                w = writer.get((k, v[-1]))
                if w is not None and w != t.id and last_append.get((w, k)) != v[-1]:
                    a.add("G1b", {"op": t.describe(), "key": k, "element": v[-1],
                                  "writer": nodes[w].describe()})
            observed.setdefault(k, set()).update(v)
            if len(v) > len(longest.get(k, ())):
                longest[k] = v
    a.orders = longest

    # Every read must be a prefix of the longest.
    bad_keys: set[Any] = set()
    for t in nodes:
        if t.type != OK:
            continue
        for f, k, v in t.mops:
            if f == "r" and v:
                order = longest[k]
                if order[:len(v)] != v:
                    bad_keys.add(k)
                    a.add("incompatible-order", {"key": k, "values": [order, v],
                                                 "op": t.describe()})

    adj = a.adj

    def edge(x: int, y: int, bit: int) -> None:
        if x != y:
            d = adj[x]
            d[y] = d.get(y, 0) | bit

    # ww: successive elements of each version order.
    for k, order in longest.items():
        prev = None
        for x in order:
            w = writer.get((k, x))
            if w is not None and prev is not None:
                edge(prev, w, WW)
            if w is not None:
                prev = w
    # Committed appends that no read observed: lists only grow, so each comes
    # after every observed element of its key (after the longest read).
    unobserved: dict[Any, set[int]] = {}
    for t in nodes:
        if t.type == OK:
            for f, k, v in t.mops:
                if f == "append" and v not in observed.get(k, ()):
                    unobserved.setdefault(k, set()).add(t.id)
    a.unobserved = unobserved
    for k, ws in unobserved.items():
        order = longest.get(k, [])
        last_writer = writer.get((k, order[-1])) if order else None
        if last_writer is not None:
            for w in ws:
                edge(last_writer, w, WW)
    # wr and rw, from each transaction's external reads.
    for t in nodes:
        if t.type != OK:
            continue
        for k, v in _external_reads(t):
            order = longest.get(k, [])
            if v:
                w = writer.get((k, v[-1]))
                if w is not None:
                    edge(w, t.id, WR)
            if k in bad_keys and order[:len(v)] != v:
                continue
            if len(v) < len(order):
                w = writer.get((k, order[len(v)]))
                if w is not None:
                    edge(t.id, w, RW)
            elif k in unobserved:
                for w in unobserved[k]:
                    edge(t.id, w, RW)
    if relations & PROCESS:
        last: dict[Any, int] = {}
        for t in sorted(nodes, key=lambda t: t.invoke.index):
            p = t.invoke.process
            if p in last:
                edge(last[p], t.id, PROCESS)
            last[p] = t.id
    if relations & REALTIME:
        _realtime(history, nodes, edge)

    succ = [list(d) for d in adj]
    for comp in tarjan(len(nodes), succ):
        for cyc in find_cycles(adj, sorted(comp), relations):
            kind = classify(cyc)
            a.add(kind, lambda cyc=cyc, comp=comp: {  # type: ignore[misc]
                "cycle": [nodes[u].describe() for u, _, _ in cyc],
                "steps": [explain_edge(a, e) for e in cyc],
                "explanation": explain_cycle(a, cyc),
                "component-size": len(comp)}, MAX_CYCLES_PER_TYPE)
    return a


def _realtime(history: Sequence[Op], nodes: list[Txn], edge: Any) -> None:
    """T1 → T2 when T1 completed before T2 was invoked, transitively reduced:
    each invocation gets edges from the frontier of completed transactions
    not already ordered before another completed one."""
    by_inv = {id(t.invoke): t for t in nodes}
    by_comp = {id(t.complete): t for t in nodes if t.type == OK and t.complete is not None}
    frontier: set[int] = set()
    seen_at_invoke: dict[int, frozenset[int]] = {}
    for op in history:
        t = by_inv.get(id(op))
        if t is not None:
            for x in frontier:
                edge(x, t.id, REALTIME)
            seen_at_invoke[t.id] = frozenset(frontier)
            continue
        t = by_comp.get(id(op))
        if t is not None:
            frontier -= seen_at_invoke.pop(t.id, frozenset())
            frontier.add(t.id)


# --------------------------------------------------------------------------
# Explanations


def _fmt(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + " ".join(_fmt(x) for x in v) + "]"
    return "nil" if v is None else str(v)


def explain_edge(a: Analysis, e: Edge) -> dict[str, Any]:
    """Why T1 < T2: which key and element, or which process or times."""
    x, y, bit = e
    t1, t2 = a.nodes[x], a.nodes[y]
    rel = REL_NAMES[bit]
    d: dict[str, Any] = {"from": t1.op.index, "to": t2.op.index, "type": rel}
    if bit == WW:
        for k, order in a.orders.items():
            mine = [i for i, v in enumerate(order) if a.writer.get((k, v)) == x]
            for i in mine:
                if i + 1 < len(order):
                    nxt = next((j for j in range(i + 1, len(order))
                                if a.writer.get((k, order[j])) is not None), None)
                    if nxt is not None and a.writer.get((k, order[nxt])) == y:
                        d.update(key=k, value=order[i], next=order[nxt],
                                 why=f"T2 appended {_fmt(order[nxt])} after T1 appended "
                                     f"{_fmt(order[i])} to {_fmt(k)}")
                        return d
        for k, ws in a.unobserved.items():
            order = a.orders.get(k, [])
            if y in ws and order and a.writer.get((k, order[-1])) == x:
                v = _appended(t2, k)
                d.update(key=k, value=order[-1], next=v,
                         why=f"T2 appended {_fmt(v)} after T1 appended {_fmt(order[-1])} to "
                             f"{_fmt(k)} (no read saw {_fmt(v)}: it follows every element read)")
                return d
    elif bit == WR:
        for k, v in _external_reads(t2):
            if v and a.writer.get((k, v[-1])) == x:
                d.update(key=k, value=v[-1],
                         why=f"T2 observed T1's append of {_fmt(v[-1])} to {_fmt(k)}")
                return d
    elif bit == RW:
        for k, v in _external_reads(t1):
            order = a.orders.get(k, [])
            if len(v) < len(order) and a.writer.get((k, order[len(v)])) == y:
                d.update(key=k, value=order[len(v)], read=v,
                         why=f"T1 read {_fmt(k)} = {_fmt(v)} and did not observe T2's append "
                             f"of {_fmt(order[len(v)])}")
                return d
            if len(v) == len(order) and y in a.unobserved.get(k, ()):
                nv = _appended(t2, k)
                d.update(key=k, value=nv, read=v,
                         why=f"T1 read {_fmt(k)} = {_fmt(v)} and did not observe T2's append "
                             f"of {_fmt(nv)}")
                return d
    elif bit == PROCESS:
        d["why"] = f"process {t1.invoke.process} executed T1 before T2"
        return d
    elif bit == REALTIME:
        c = t1.complete
        d["why"] = (f"T1 completed at index {c.index if c else '?'}, before the invocation of "
                    f"T2 at index {t2.invoke.index}")
        return d
    d["why"] = f"of a {rel} dependency"
    return d


def _appended(t: Txn, k: Any) -> Any:
    return next((v for f, kk, v in t.mops if f == "append" and kk == k), None)


def explain_cycle(a: Analysis, cycle: Sequence[Edge]) -> str:
    """Elle's prose: let T1..Tn be the ops; then each edge; a contradiction."""
    names = {u: f"T{i + 1}" for i, (u, _, _) in enumerate(cycle)}
    lines = ["Let:"]
    for u, _, _ in cycle:
        lines.append(f"  {names[u]} = {_op_text(a.nodes[u])}")
    lines.append("Then:")
    for i, e in enumerate(cycle):
        why = explain_edge(a, e)["why"].replace("T1", "\0A").replace("T2", "\0B")
        why = why.replace("\0A", names[e[0]]).replace("\0B", names[e[1]])
        head = "However, " if i == len(cycle) - 1 else ""
        tail = ": a contradiction!" if i == len(cycle) - 1 else "."
        lines.append(f"  - {head}{names[e[0]]} < {names[e[1]]}, because {why}{tail}")
    return "\n".join(lines)


def _op_text(t: Txn) -> str:
    op = t.op
    mops = " ".join(f"[:{f} {_fmt(k)} {_fmt(v)}]" for f, k, v in t.mops)
    return (f"{{:index {op.index}, :time {op.time}, :type :{t.type}, :process {op.process}, "
            f":f :{op.f}, :value [{mops}]}}")


# --------------------------------------------------------------------------
# The checker


class ListAppendChecker:
    """Elle's list-append analysis for f ``txn`` histories."""

    name = "list-append"

    def __init__(self, model: str = "strict-serializable", out_dir: Path | None = None) -> None:
        if model not in PROHIBITED:
            raise ValueError(f"consistency model must be one of {', '.join(MODELS)}")
        self.model = model
        self.out_dir = out_dir

    def check(self, test: Mapping[str, Any], history: Sequence[Op]) -> dict[str, Any]:
        relations = DATA
        if self.model in ("strict-serializable", "strong-snapshot-isolation"):
            relations |= PROCESS | REALTIME
        elif self.model == "strong-session-serializable":
            relations |= PROCESS
        a = analyze(history, relations)
        prohibited = PROHIBITED[self.model] | ALWAYS_PROHIBITED
        types = sorted(a.counts)
        bad = [t for t in types if t in prohibited]
        ok_count = sum(1 for t in a.nodes if t.type == OK)
        result: dict[str, Any] = {
            "valid?": False if bad else (True if ok_count else UNKNOWN),
            "model": self.model,
            "anomaly-types": types,
            "prohibited-anomalies": bad,
            "anomaly-counts": dict(sorted(a.counts.items())),
            "anomalies": a.anomalies,
            "not": sorted(m for m, p in PROHIBITED.items() if set(types) & (p | ALWAYS_PROHIBITED)),
            "txn-count": len(a.nodes) + len(a.failed),
            "ok-count": ok_count,
            "info-count": sum(1 for t in a.nodes if t.type == INFO),
            "fail-count": len(a.failed),
            "key-count": len(a.orders),
        }
        if not ok_count:
            result["error"] = "no-ok-transactions"
        cycles = {k: v for k, v in a.anomalies.items() if "cycle" in (v[0] if v else {})}
        if cycles and self.out_dir is not None:
            result["drawing"] = str(write_cycles_html(cycles, self.out_dir / "list-append.html"))
        return result


def write_cycles_html(cycles: Mapping[str, list[dict[str, Any]]], path: Path) -> Path:
    """One page: each cycle drawn as SVG, with Elle's explanation and the ops."""
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>list-append anomalies</title><style>body{font-family:sans-serif;"
             "max-width:70em;margin:1em auto}pre{background:#f6f6f6;padding:.6em;"
             "white-space:pre-wrap}</style></head><body><h1>list-append anomalies</h1>"]
    for kind, items in cycles.items():
        for n, item in enumerate(items):
            parts.append(f"<h2 id=\"{html.escape(kind)}-{n}\">{html.escape(kind)} #{n + 1}</h2>")
            parts.append(cycle_svg(item["steps"]))
            parts.append(f"<pre>{html.escape(item['explanation'])}</pre>")
    parts.append("</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="utf-8")
    return path


_COLOURS = {"ww": "#1f77b4", "wr": "#2ca02c", "rw": "#d62728", "process": "#9467bd",
            "realtime": "#ff7f0e"}


def cycle_svg(steps: Sequence[Mapping[str, Any]]) -> str:
    """The cycle as a ring of transactions with labelled, coloured arrows."""
    import math

    n = len(steps)
    r = 60 + 30 * n
    size = 2 * r + 160
    c = size / 2
    pos = [(c + r * math.cos(2 * math.pi * i / n - math.pi / 2),
            c + r * math.sin(2 * math.pi * i / n - math.pi / 2)) for i in range(n)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size:.0f}" height="{size:.0f}">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
           'markerHeight="8" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker>'
           '</defs>']
    for i, s in enumerate(steps):
        (x1, y1), (x2, y2) = pos[i], pos[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1
        sx, sy, ex, ey = x1 + dx / d * 34, y1 + dy / d * 34, x2 - dx / d * 34, y2 - dy / d * 34
        col = _COLOURS.get(s["type"], "#000")
        label = s["type"] + (f" {_fmt(s['key'])}" if "key" in s else "")
        out.append(f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" '
                   f'stroke="{col}" stroke-width="2" marker-end="url(#a)"/>')
        out.append(f'<text x="{(sx + ex) / 2 + 6:.1f}" y="{(sy + ey) / 2 - 6:.1f}" '
                   f'fill="{col}" font-size="13">{html.escape(label)}</text>')
    for i, s in enumerate(steps):
        x, y = pos[i]
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="30" fill="#fff" stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                   f'font-size="13">T{i + 1}</text>')
        out.append(f'<text x="{x:.1f}" y="{y + 12:.1f}" text-anchor="middle" '
                   f'font-size="10">op {s["from"]}</text>')
    out.append("</svg>")
    return "".join(out)


def by_process(nodes: Iterable[Txn]) -> dict[Any, list[Txn]]:
    out: dict[Any, list[Txn]] = defaultdict(list)
    for t in nodes:
        out[t.invoke.process].append(t)
    return out
