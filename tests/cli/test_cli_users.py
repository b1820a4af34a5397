"""``gsoia user list | disable | enable | rotate-token | set | remove``: what each does to the
node's accounts (read back through the node), and each refusal: one ``gsoia:`` line,
exit 2, nothing on stdout."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Result, Runner, assert_refused, no_traceback
from sqlalchemy import create_engine, select, text

from gsoia.node.errors import Unauthorized
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries

PG_SERVER = os.environ.get("GSOIA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The node's database URL: None for SQLite in its data directory, or a fresh
    PostgreSQL schema (as ``tests/node/conftest.py`` makes them)."""
    if request.param == "sqlite":
        yield None
        return
    schema = f"gsoia_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def ok(result: Result) -> str:
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    return result.stdout


class Cli:
    """``gsoia`` on one node's data directory (and database)."""

    def __init__(self, run: Runner, data: Path, database: str | None) -> None:
        self.run_ = run
        self.data = data
        self.database = database

    def __call__(self, *args: str) -> Result:
        where = ["--data", str(self.data)]
        if self.database:
            where += ["--database", self.database]
        return self.run_(*args, *where)

    def node(self) -> Node:
        return Node.open(self.data, database=self.database)


@pytest.fixture
def cli(run: Runner, tmp_path: Path, database: str | None) -> Cli:
    data = tmp_path / "jpn"
    Node.init(data, "JPN", database=database).close()
    return Cli(run, data, database)


def add(cli: Cli, user_id: str, *options: str) -> str:
    return ok(cli("user", "add", "--id", user_id, "--nation", "JPN", *options)).strip()


def test_each_command_changes_the_account_and_says_so(cli: Cli) -> None:
    token = add(cli, "a1", "--clearance", "HI", "--need-to-know", "maritime")
    add(cli, "b2", "--clearance", "KIMITSU", "--role", "officer")
    listed = ok(cli("user", "list"))
    header = next(line for line in listed.splitlines() if "need-to-know" in line)
    for column in ("id", "nation", "clearance", "expires", "role", "disabled"):
        assert column in header
    row = next(line for line in listed.splitlines() if " a1 " in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│") if cell.strip()] == [
        "a1",
        "JPN",
        "HI",
        "maritime",
        "analyst",
        "no",
    ]
    assert "gsoia_" not in listed

    assert ok(cli("user", "disable", "--id", "a1")) == "a1: disabled\n"
    assert " yes " in next(line for line in ok(cli("user", "list")).splitlines() if " a1 " in line)
    node = cli.node()
    try:
        with pytest.raises(Unauthorized):
            node.authenticate(token)
    finally:
        node.close()
    assert ok(cli("user", "enable", "--id", "a1")) == "a1: enabled\n"
    rotated = cli("user", "rotate-token", "--id", "a1")
    new = ok(rotated).strip()
    assert new.startswith("gsoia_")
    assert new != token
    assert "shown once" in rotated.stderr
    said = ok(
        cli(
            "user",
            "set",
            "--id",
            "a1",
            "--clearance",
            "GOKUHI",
            "--clearance-expires",
            "2031-03-31",
            "--need-to-know",
            "cyber",
            "--need-to-know",
            "space",
            "--role",
            "officer",
        )
    )
    assert said == "a1: JPN GOKUHI until 2031-03-31, need-to-know [cyber, space], officer\n"
    said = ok(cli("user", "set", "--id", "a1", "--no-need-to-know", "--no-clearance-expires"))
    assert said == "a1: JPN GOKUHI until never, need-to-know [], officer\n"
    node = cli.node()
    try:
        with pytest.raises(Unauthorized):
            node.authenticate(token)
        user = node.authenticate(new)
        assert (user.clearance, user.need_to_know, user.role) == ("GOKUHI", (), Role.OFFICER)
    finally:
        node.close()
    assert ok(cli("user", "set", "--id", "a1", "--no-clearance")).startswith("a1: JPN uncleared")
    assert ok(cli("user", "remove", "--id", "a1")) == "a1: removed\n"
    assert " a1 " not in ok(cli("user", "list"))

    node = cli.node()
    try:
        with node.engine.connect() as connection:
            rows = connection.execute(
                select(audit_entries.c.kind, audit_entries.c.actor, audit_entries.c.body)
            ).all()
    finally:
        node.close()
    assert [(kind, actor) for kind, actor, _ in rows] == [
        ("user.added", "cli"),
        ("user.added", "cli"),
        ("user.disabled", "cli"),
        ("user.enabled", "cli"),
        ("user.token_rotated", "cli"),
        ("user.changed", "cli"),
        ("user.changed", "cli"),
        ("user.changed", "cli"),
        ("user.removed", "cli"),
    ]
    text = json.dumps([body for _, _, body in rows])
    assert token not in text
    assert new not in text


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_each_refusal_is_one_line_and_exit_2(cli: Cli) -> None:
    add(cli, "a1", "--clearance", "HI")
    for command in (
        ("disable",),
        ("enable",),
        ("rotate-token",),
        ("remove",),
        ("set", "--clearance", "HI"),
    ):
        assert_refused(cli("user", *command, "--id", "nobody"), "--id", "no user 'nobody'")
    assert_refused(cli("user", "set", "--id", "a1", "--clearance", "S"), "clearance", "'S'")
    assert_refused(
        cli("user", "set", "--id", "a1", "--clearance-expires", "soon"), "--clearance-expires"
    )
    assert_refused(cli("user", "set", "--id", "a1", "--need-to-know", "x" * 65), "need_to_know[0]")
    assert_refused(
        cli("user", "set", "--id", "a1", "--clearance", "HI", "--no-clearance"), "--clearance"
    )
    assert_refused(cli("user", "set", "--id", "a1"), "at least one")
    assert_refused(
        cli("user", "add", "--id", "b2", "--nation", "ZZZ"), "nation", "unknown policy 'ZZZ'"
    )
    assert_refused(
        cli("user", "add", "--id", "b2", "--nation", "JPN", "--clearance", "TS"), "clearance"
    )
    usage = cli("user", "set", "--id", "a1", "--role", "king")
    no_traceback(usage)
    assert usage.returncode == 2
    assert "--role" in usage.stderr
    node = cli.node()
    try:
        with node.engine.connect() as connection:
            entries = connection.execute(
                select(audit_entries.c.kind, audit_entries.c.actor, audit_entries.c.body)
            ).all()
    finally:
        node.close()
    # nothing was changed; what the node refused is in its log, the operator's, one entry
    # each (an option refused before the node is opened is not the node's refusal)
    assert entries[0].kind == "user.added"
    refused = [(e.kind, e.actor, json.loads(e.body)["data"]) for e in entries[1:]]
    assert [(kind, actor) for kind, actor, _ in refused] == [("refused", "cli")] * 9
    assert [body["action"] for _, _, body in refused] == [
        "gsoia user disable",
        "gsoia user enable",
        "gsoia user rotate-token",
        "gsoia user remove",
        "gsoia user set",
        "gsoia user set",
        "gsoia user set",
        "gsoia user add",
        "gsoia user add",
    ]
    assert "no user 'nobody'" in refused[0][2]["reason"]
    assert "unknown policy 'ZZZ'" in refused[7][2]["reason"]
