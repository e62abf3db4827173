"""What a failed playbook run says in its one line."""

from __future__ import annotations

from pathlib import Path

from pyharness.control.ansible import HostFailure, PlaybookResult, host_failures


def result(tmp_path: Path, **kw: object) -> PlaybookResult:
    base: dict = dict(playbook="setup.yml", rc=2, status="failed", elapsed_s=1.0,
                      artifact_dir=tmp_path)
    return PlaybookResult(**{**base, **kw})


def test_a_host_failure_names_host_task_and_cause(tmp_path: Path) -> None:
    r = result(tmp_path, failures=[
        HostFailure("n2", "Start etcd", "etcd exited: bind: address already in use"),
        HostFailure("n3", "Start etcd", "same")])
    assert r.error_line() == ("host n2: task 'Start etcd' failed: etcd exited: bind: "
                              "address already in use (and 1 more)")


def test_a_run_that_never_started_quotes_runner_output(tmp_path: Path) -> None:
    (tmp_path / "stdout").write_text(
        "The command was not found or was not executable: ansible-playbook.\n")
    r = result(tmp_path, rc=127)
    assert r.error_line() == (
        "playbook setup.yml failed (rc 127): The command was not found or was not "
        f"executable: ansible-playbook.; see {tmp_path / 'stdout'}")
    assert not r.ok


def test_without_output_the_line_points_at_the_artifacts(tmp_path: Path) -> None:
    r = result(tmp_path, rc=4)
    assert r.error_line() == f"playbook setup.yml failed (rc 4); see {tmp_path / 'stdout'}"


def ev(kind: str, host: str, task: str, **data: object) -> dict:
    return {"event": kind, "event_data": {"host": host, "task": task, **data}}


def test_host_failures_keep_only_what_stopped_a_host() -> None:
    """Shared by the plain runner and the nemesis agent: a rescued failure
    (more tasks followed on its host) and an ignored one are not failures."""
    events = [
        ev("runner_on_failed", "n1", "Drop the chain", res={"stderr": "no chain\nmore"}),
        ev("runner_on_ok", "n1", "Record the failed step"),
        ev("runner_on_failed", "n2", "Probe", ignore_errors=True, res={"msg": "x"}),
        ev("runner_on_ok", "n2", "Next"),
        ev("runner_on_failed", "n3", "Kill",
           res={"stdout": "pyharness: unverified (pid 7 still live)\n", "msg": "rc 3"}),
        ev("runner_on_unreachable", "n4", "Gather", res={"msg": "ssh: connect refused"}),
    ]
    assert host_failures(events) == [
        HostFailure("n3", "Kill", "pyharness: unverified (pid 7 still live)"),
        HostFailure("n4", "Gather", "ssh: connect refused", unreachable=True)]
