"""``pyharness lab up | down | status``: the local lab."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pyharness.cli.common import (
    console,
    fail,
    lab_app,
    out,
)
from pyharness.control import paths


@lab_app.command("up")
def lab_up(nodes: Annotated[int, typer.Option(help="Number of hosts.", min=1, max=250)] = 5,
           ) -> None:
    """Create (or repair) the lab and write its inventory. Safe to run twice."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import PlaybookFailed

    try:
        inv = lab_mod.up(nodes)
    except PlaybookFailed as e:
        raise fail(str(e)) from None
    console.print(f"lab is up; inventory: {inv}")


@lab_app.command("down")
def lab_down() -> None:
    """Remove everything the lab made, and nothing else."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import PlaybookFailed

    try:
        lab_mod.down()
    except PlaybookFailed as e:
        raise fail(str(e)) from None
    console.print("lab is down")


@lab_app.command("status")
def lab_status() -> None:
    """Show each lab host: namespace, sshd, SSH port, etcd member."""
    from pyharness.control import lab as lab_mod

    hosts = lab_mod.status()
    if hosts is None:
        console.print("no lab on this machine (run: pyharness lab up)")
        raise typer.Exit(1)
    table = Table(title=f"lab ({paths.LAB_DIR})")
    for col in ("host", "address", "netns", "sshd", "ssh port", "etcd"):
        table.add_column(col)

    def mark(b: bool) -> str:
        return "[green]up[/green]" if b else "[red]down[/red]"

    for h in hosts:
        table.add_row(h.name, h.address, mark(h.netns), mark(h.sshd), mark(h.ssh_port),
                      mark(h.etcd))
    out.print(table)
    raise typer.Exit(0 if all(h.up for h in hosts) else 1)
