"""A node's files on SQLite are its user's alone: the data directory 0700, the database and
its -wal, -shm and -writer files 0600, from ``gsoia init`` on; an existing node opened later has
them tightened so (whatever the umask it was made under)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gsoia.node.service import Node
from gsoia.node.users import Role


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(data: Path) -> list[Path]:
    return [data / name for name in ("gsoia.db", "gsoia.db-wal", "gsoia.db-shm", "gsoia.db-writer")]


def test_init_makes_the_data_directory_and_the_database_private(tmp_path: Path) -> None:
    data = tmp_path / "jpn"
    old = os.umask(0o022)
    try:
        node = Node.init(data, "JPN")
        try:
            node.add_user("jp", "JPN", clearance="KIMITSU", role=Role.OFFICER)
            files = database_files(data)
            assert all(f.exists() for f in files), list(data.iterdir())
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            node.close()
    finally:
        os.umask(old)
    assert mode(data) == 0o700


def test_opening_a_node_tightens_what_was_left_open(tmp_path: Path) -> None:
    data = tmp_path / "jpn"
    Node.init(data, "JPN").close()
    data.chmod(0o755)
    (data / "gsoia.db").chmod(0o644)
    for companion in ("gsoia.db-wal", "gsoia.db-shm"):
        (data / companion).touch(mode=0o666)
        (data / companion).chmod(0o666)
    node = Node.open(data)
    try:
        node.add_user("jp", "JPN", clearance="KIMITSU")
    finally:
        node.close()
    assert mode(data) == 0o700
    assert {f.name: mode(f) for f in database_files(data) if f.exists()} == {
        f.name: 0o600 for f in database_files(data) if f.exists()
    }
    assert mode(data / "gsoia.db") == 0o600
