"""``gsoia assurance …`` and ``gsoia visit …`` on the data directories of two served
nodes: an assurance issued, a visit requested and approved, the token shown once; bad
input refused in one line."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.cli.cli_support import run_in_process
from tests.node.conftest import RunningNode
from tests.visits.conftest import TODAY, Pair


def _gsoia(node: RunningNode, *args: str) -> Any:
    """The command on ``node``'s data (and database); its JSON answer."""
    where = ["--data", str(node.data)]
    if node.database.url:
        where += ["--database", node.database.url]
    done = run_in_process(*args, *where)
    assert done.returncode == 0, done.stderr
    # (the served nodes of this process log their requests on the same stdout)
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line in ("{", "[", "[]", "{}"))
    return json.loads("\n".join(lines[start:]))


def test_an_assurance_and_a_visit_from_the_command_line(pair: Pair) -> None:
    expires = (TODAY + dt.timedelta(days=200)).isoformat()
    issued = _gsoia(
        pair.can, "assurance", "issue", "--to", "JPN", "--person-id", "cli-1", "--name",
        "Command Line", "--clearance", "S", "--expires", expires, "--need-to-know", "maritime",
    )  # fmt: skip
    assert issued["state"] == "delivered"
    day = TODAY.isoformat()
    asked = _gsoia(
        pair.can, "visit", "request", "--to", "JPN", "--visitor", issued["id"], "--purpose",
        "liaison", "--place", "Ichigaya", "--first-day", day, "--last-day", day, "--area",
        "maritime", "--kind", "emergency", "--reason", "a ship in distress",
    )  # fmt: skip
    assert asked["delivery"] == "delivered"
    listed = _gsoia(pair.jpn, "visit", "list")
    assert [v["visitors"][0]["person"]["name"] for v in listed if v["id"] == asked["id"]] == [
        "Command Line"
    ]
    approved = _gsoia(pair.jpn, "visit", "approve", "--id", asked["id"], "--note", "welcome")
    assert approved["delivery"] == "delivered"
    assert list(_gsoia(pair.can, "visit", "tokens", "--id", asked["id"])["tokens"]) == ["cli-1"]
    assert _gsoia(pair.can, "visit", "tokens", "--id", asked["id"]) == {"tokens": {}}


def test_bad_input_is_one_line(pair: Pair) -> None:
    where = ["--data", str(pair.can.data)]
    if pair.can.database.url:
        where += ["--database", pair.can.database.url]
    done = run_in_process(
        "assurance", "issue", "--to", "JPN", "--person-id", "x", "--name", "X",
        "--clearance", "GOKUHI", "--expires", "2099-01-01", *where,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["gsoia: clearance: unknown level 'GOKUHI' of CAN"]
    assert done.stdout == ""


def test_the_host_asks_for_more_ends_a_visit_and_removes_an_account(pair: Pair) -> None:
    expires = (TODAY + dt.timedelta(days=200)).isoformat()
    day = TODAY.isoformat()

    def requested(person: str) -> str:
        issued = _gsoia(
            pair.can, "assurance", "issue", "--to", "JPN", "--person-id", person, "--name",
            "Command Line", "--clearance", "S", "--expires", expires, "--need-to-know", "maritime",
        )  # fmt: skip
        asked = _gsoia(
            pair.can, "visit", "request", "--to", "JPN", "--visitor", issued["id"], "--purpose",
            "liaison", "--place", "Ichigaya", "--first-day", day, "--last-day", day, "--area",
            "maritime", "--kind", "emergency", "--reason", "a ship in distress",
        )  # fmt: skip
        return str(asked["id"])

    first = requested("cli-2")
    more = _gsoia(pair.jpn, "visit", "ask", "--id", first, "--note", "which berth?")
    assert (more["state"], more["delivery"]) == ("asked", "delivered")
    second = requested("cli-3")
    _gsoia(pair.jpn, "visit", "approve", "--id", second)
    ended = _gsoia(pair.jpn, "visit", "end", "--id", second, "--note", "sailed")
    assert ended["accounts"] == [f"visitor:{second}:cli-3"]
    seen = {v["id"]: v["state"] for v in _gsoia(pair.can, "visit", "list")}
    assert (seen[first], seen[second]) == ("asked", "ended")

    third = requested("cli-4")
    _gsoia(pair.jpn, "visit", "approve", "--id", third)
    where = ["--data", str(pair.jpn.data)]
    if pair.jpn.database.url:
        where += ["--database", pair.jpn.database.url]
    account = f"visitor:{third}:cli-4"
    done = run_in_process("user", "remove", "--id", account, *where)
    assert done.returncode == 0, done.stderr
    assert f"{account}: removed" in done.stdout
    again = run_in_process("user", "remove", "--id", account, *where)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [f"gsoia: --id: no user '{account}'"]
