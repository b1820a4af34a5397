"""A node on SQLite never loads psycopg: PostgreSQL's driver is imported only where used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gsoia

SQLITE_NODE = """
import json, sys
from pathlib import Path
from gsoia.node.service import Node

data = Path(sys.argv[1])
Node.init(data, "JPN").close()
node = Node.open(data)
user, _ = node.add_user("jp", "JPN", clearance="KIMITSU", need_to_know=["maritime"])
label = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}
created = node.create_item(user, label, "Patrol", b"x")
listed = node.list_items(user)["items"]
head = node.verify_audit()
node.close()
print(json.dumps({
    "created": created["id"],
    "listed": [item["id"] for item in listed],
    "verified": head.size if head is not None else None,
    "drivers": sorted(m for m in sys.modules if m.split(".")[0].startswith("psycopg")),
}))
"""


def test_a_sqlite_node_never_imports_psycopg(tmp_path: Path) -> None:
    source = str(Path(gsoia.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    run = subprocess.run(
        [sys.executable, "-c", SQLITE_NODE, str(tmp_path / "node")],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.splitlines()[-1])
    assert seen["listed"] == [seen["created"]]
    assert seen["verified"] == 3  # the user added, the item stored, the listing
    assert seen["drivers"] == []
