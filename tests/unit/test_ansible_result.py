"""What a failed playbook run says in its one line."""

from __future__ import annotations

from pathlib import Path

from pyharness.control.ansible import HostFailure, PlaybookResult


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
