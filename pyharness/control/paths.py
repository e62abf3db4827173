"""Where the suite's own files are: playbooks, roles, the lab's inventory."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
INVENTORY_DIR = ROOT / "inventory"
LAB_INVENTORY = INVENTORY_DIR / "lab.yml"
LAB_DIR = Path("/var/lib/pyharness/lab")
