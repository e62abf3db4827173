"""``pyharness quickcheck``: the model test of the lattice store."""

from __future__ import annotations

from typing import Annotated

import typer

from pyharness.cli.common import (
    InventoryOpt,
    app,
    console,
    fail,
)
from pyharness.control import paths


@app.command()
def quickcheck(
    examples: Annotated[int, typer.Option(help="Command sequences to try.", min=1)] = 50,
    seed: Annotated[int | None, typer.Option(help="Seed, to replay a run.")] = None,
    inventory: InventoryOpt = None,
    store_bug: Annotated[str | None, typer.Option(
        help="Switch on a known store bug; the test must catch it.")] = None,
    parallel: Annotated[bool, typer.Option(
        "--parallel", help="Run command sequences from several processes at once and check "
                           "the recorded history against the model.")] = False,
    api: Annotated[str, typer.Option(
        help="etcd API the store speaks: v2 or v3.")] = "v2",
) -> None:
    """Model-based test of the variable store on etcd (Hypothesis state machine).

    Exit 0 when no counterexample is found, 1 with the shrunk counterexample."""
    from pyharness.control import lab as lab_mod
    from pyharness.control.ansible import Ansible, PlaybookFailed
    from pyharness.control.inventory import InventoryError
    from pyharness.control.inventory import load as load_inventory
    from pyharness.run.quickcheck import run_quickcheck
    from pyharness.varstore.bugs import BUGS

    if store_bug is not None and store_bug not in BUGS:
        raise fail(f"--store-bug must be one of {', '.join(BUGS)}")
    if api not in ("v2", "v3"):
        raise fail(f"--api must be one of v2, v3, got {api}")
    inv = inventory
    try:
        if inv is None:
            if not lab_mod.is_up():
                console.log("bringing up the local lab")
                lab_mod.up()
            inv = paths.LAB_INVENTORY
        nodes = load_inventory(inv)
        ansible = Ansible(inv, lab_mod.STATE_DIR / "quickcheck-ansible", keep=20)
        r = ansible.run("setup.yml")
        if not r.ok:
            raise PlaybookFailed(r)
    except (InventoryError, PlaybookFailed) as e:
        raise fail(str(e)) from None
    endpoints = [f"{n.address}:{n.client_port}" for n in nodes]
    raise typer.Exit(run_quickcheck(endpoints, examples, seed, store_bug, parallel, console,
                                   api=api))
