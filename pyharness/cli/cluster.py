"""``pyharness heal`` and ``pyharness check-cluster``: act on an inventory's cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pyharness.cli.common import (
    InventoryOpt,
    app,
    console,
    fail,
    out,
)
from pyharness.control import paths


@app.command()
def heal(inventory: InventoryOpt = None) -> None:
    """Remove every fault the suite may have left on an inventory's hosts."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import Ansible
    from pyharness.control.inventory import InventoryError
    from pyharness.control.inventory import load as load_inventory

    inv = inventory or paths.LAB_INVENTORY
    try:
        load_inventory(inv)
    except InventoryError as e:
        raise fail(str(e)) from None
    r = Ansible(inv, lab_mod.STATE_DIR / "heal-ansible", keep=20).run("heal.yml")
    if not r.ok:
        raise fail(r.error_line())
    console.print("healed")


@app.command("check-cluster")
def check_cluster(
    inventory: Annotated[Path, typer.Option(
        "--inventory", "-i", help="Ansible inventory with an 'etcd' group: the cluster to check.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for each member's answer.", min=0.1, max=600)] = 5.0,
) -> None:
    """Read-only check of a running cluster: members, versions, leader, revisions,
    HashKV agreement, alarms. Exit 0 consistent, 1 inconsistent, 2 cannot tell
    (an unreachable member is named). Writes nothing to the cluster."""

    from pyharness.control.inventory import InventoryError
    from pyharness.run.check_cluster import run as run_check

    try:
        code, report = run_check(inventory, out, json_out=json_out, timeout=timeout)
    except InventoryError as e:
        raise fail(str(e)) from None
    if json_out:
        print(json.dumps(report, indent=1, sort_keys=True))
    raise typer.Exit(code)
