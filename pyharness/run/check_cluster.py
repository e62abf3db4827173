"""``pyharness check-cluster``: a read-only look at a running cluster.

For ops teams: is every member up, which version is it, who leads, are the
members' revisions and key-value hashes in agreement, is an alarm raised?
Every request only reads (``GET /version``, ``maintenance/status``,
``maintenance/hashkv`` at a revision, ``maintenance/alarm`` with action
``GET``); nothing is written to the cluster. (etcd serves the alarm GET
through raft, so the raft index grows by one: the alarm list is asked of one
member only, and no key or revision changes.)

Verdict and exit code:

- **0 consistent**: every member answered, they agree on HashKV at R (the
  least of their revisions), members of one raft term name one leader, and
  no CORRUPT alarm is raised;
- **1 inconsistent**: members disagree on HashKV at R, two members of one
  term name different leaders, or a CORRUPT alarm is raised (etcd's own
  corruption check found members that disagree);
- **2 cannot tell**: a member did not answer (named), R is compacted, the
  compacted revisions differ, or no member knows a leader.

A raised NOSPACE alarm (the backend quota is full, so the cluster refuses
writes) is reported and makes the verdict no better than unknown: it is no
divergence, but the cluster is not well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checkers import consistency
from checkers.core import UNKNOWN
from pyharness.control import inventory
from pyharness.etcd import cluster_state

EXIT_CONSISTENT, EXIT_INCONSISTENT, EXIT_UNKNOWN = 0, 1, 2
VERDICTS = {EXIT_CONSISTENT: "consistent", EXIT_INCONSISTENT: "inconsistent",
            EXIT_UNKNOWN: "unknown"}


def _alarms(state: dict[str, Any]) -> list[dict[str, str]] | None:
    a = state.get("alarms", {})
    if "answer" not in a:
        return None
    return [{"member_id": str(x.get("memberID", "")), "alarm": str(x.get("alarm", "NONE"))}
            for x in a["answer"].get("alarms", [])]


def judge(state: dict[str, Any], expected: list[str]) -> dict[str, Any]:
    """The report on :func:`cluster_state.collect`'s answers (with extras)."""
    verdict = consistency.check({**state, "expected_members": expected})
    members: dict[str, dict[str, Any]] = verdict["members"]
    by_id = {s["member_id"]: name for name, s in members.items() if s.get("member_id")}
    problems: list[str] = []
    reasons: list[str] = [verdict["reason"]] if verdict.get("reason") else []
    if verdict["valid?"] is False:
        problems.append(verdict["error"])
    for name, entry in state["members"].items():
        s = members[name]
        v = entry.get("version", {})
        if "answer" in v:
            s["server_version"] = v["answer"].get("etcdserver")
            s["cluster_version"] = v["answer"].get("etcdcluster")
        if "leader" in s:
            s["leader_name"] = by_id.get(s["leader"], s["leader"] if s["leader"] != "0"
                                         else None)
    listed = _alarms(state)
    if listed is None and state.get("revision") is not None:
        a = state.get("alarms", {})
        reasons.append(f"the alarm list could not be read from member {a.get('member')}: "
                       f"{a.get('error', 'no answer')}")
    # An alarm names the member it is for by id; etcd 3.4's periodic
    # corruption check raises CORRUPT for member 0, that is for none.
    alarms = [{"member": by_id.get(a["member_id"], a["member_id"] or "0"), "alarm": a["alarm"]}
              for a in listed or []]
    for name, s in members.items():
        if "error" not in s:
            s["alarms"] = [a["alarm"] for a in alarms if a["member"] == name]
    for a in alarms:
        whom = f"member {a['member']}" if a["member"] != "0" else "the cluster (member 0)"
        if a["alarm"] == "CORRUPT":
            problems.append(f"CORRUPT alarm raised for {whom}: etcd found members whose "
                            "data disagree")
        else:
            reasons.append(f"{a['alarm']} alarm raised for {whom}")
    # One leader per term
    terms: dict[int, set[str]] = {}
    for name, s in members.items():
        if "leader" not in s:
            continue
        if s["leader"] in ("", "0"):
            reasons.append(f"member {name} knows no leader")
            continue
        terms.setdefault(int(s.get("raft_term") or 0), set()).add(s["leader_name"])
    for term, leaders in sorted(terms.items()):
        if len(leaders) > 1:
            problems.append(f"members of raft term {term} name different leaders: "
                            f"{', '.join(sorted(leaders))}")
    if problems:
        code = EXIT_INCONSISTENT
    elif reasons or verdict["valid?"] == UNKNOWN:
        code = EXIT_UNKNOWN
    else:
        code = EXIT_CONSISTENT
    leaders = sorted({s["leader_name"] for s in members.values() if s.get("leader_name")})
    return {"verdict": VERDICTS[code], "exit": code, "revision": verdict.get("revision"),
            "leader": leaders[0] if len(leaders) == 1 else leaders,
            "members": members, "hashes-agree": (verdict.get("hashes") and
                                                 len(set(verdict["hashes"].values())) == 1
                                                 and "hash-groups" not in verdict),
            "alarms": alarms, "problems": problems, "reasons": reasons}


def collect(nodes: list[inventory.Node], timeout: float = 5.0) -> dict[str, Any]:
    members = [cluster_state.Member(n.name, n.address, n.client_port, n.tls, n.auth)
               for n in nodes]
    return cluster_state.collect(members, prefix=None, timeout=timeout, extras=True)


def _cell(v: Any) -> str:
    return "-" if v is None else escape(str(v))


def table(report: dict[str, Any]) -> Table:
    rev = report.get("revision")
    t = Table(title=f"etcd cluster: {report['verdict']}", title_justify="left")
    for col in ("member", "endpoint", "version", "leader", "revision", "raft index",
                "applied", "term", f"HashKV at {rev}", "alarms"):
        t.add_column(col, justify="right" if col in ("revision", "raft index", "applied",
                                                     "term") else "left")
    for name, s in report["members"].items():
        if "error" in s:
            t.add_row(escape(name), _cell(s.get("endpoint")), "[red]unreachable[/red]",
                      *["-"] * 7)
            continue
        lead = "[bold]leader[/bold]" if s.get("is_leader") else _cell(s.get("leader_name"))
        alarms = ", ".join(s.get("alarms") or []) or "none"
        hk = s.get("hash") if "hash" in s else s.get("hashkv_error", "-")
        t.add_row(escape(name), _cell(s.get("endpoint")),
                  _cell(s.get("server_version") or s.get("version")), lead,
                  _cell(s.get("revision")), _cell(s.get("raft_index")),
                  _cell(s.get("raft_applied_index")), _cell(s.get("raft_term")), _cell(hk),
                  escape(alarms))
    return t


def run(inventory_path: Path, console: Console, json_out: bool = False,
        timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """Check the inventory's cluster; print the table (or nothing, for
    ``json_out``: the caller prints the report). The exit code and the report."""
    nodes = inventory.load(inventory_path)
    report = judge(collect(nodes, timeout), [n.name for n in nodes])
    if not json_out:
        console.print(table(report))
        for p in report["problems"]:
            console.print(f"[red]inconsistent:[/red] {escape(p)}", soft_wrap=True)
        for r in report["reasons"]:
            console.print(f"[yellow]cannot tell:[/yellow] {escape(r)}", soft_wrap=True)
        if report["exit"] == EXIT_CONSISTENT:
            n = len(report["members"])
            console.print(f"[green]consistent:[/green] {n} members agree on HashKV at "
                          f"revision {report['revision']}; leader {report['leader']}; "
                          "no alarm", soft_wrap=True)
    return report["exit"], report
