"""Accounts and web sessions in the node itself (``gsoia.node.accounts``, ``sessions``), on
SQLite and PostgreSQL: each change audited with its actor and never a secret, the
authority's refusals, what a disabled, re-keyed or removed user can still do (nothing),
web sessions kept in the store, and the migration that brings both, up and down."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, insert, select, update

from gsoia.errors import InputError
from gsoia.node.accounts import KEEP, Changes, Disabled
from gsoia.node.authority import OPERATOR
from gsoia.node.errors import Conflict, Forbidden, NotFound, Unauthorized
from gsoia.node.service import Node
from gsoia.node.sessions import secret_hash
from gsoia.node.users import Role, User, token_hash
from gsoia.store.database import MIGRATIONS, writing
from gsoia.store.schema import audit_entries, sessions, users
from tests.audit.conftest import bare_engine  # noqa: F401 - the empty databases' fixture
from tests.node.conftest import RunningNode


@pytest.fixture
def node(jpn: RunningNode) -> Iterator[Node]:
    opened = jpn.open()
    try:
        yield opened
    finally:
        opened.close()


def entries(node: Node) -> list[dict[str, Any]]:
    with node.engine.connect() as connection:
        bodies = connection.execute(select(audit_entries.c.body).order_by(audit_entries.c.seq))
        return [json.loads(body) for body in bodies.scalars()]


def admin_of(node: Node, clearance: str = "GOKUHI", user_id: str = "adm") -> User:
    user, _ = node.add_user(user_id, "JPN", clearance=clearance, role=Role.ADMIN)
    return user


def test_every_change_is_audited_with_its_actor_and_no_secret(node: Node) -> None:
    admin = admin_of(node)
    record, first = node.accounts.add(admin, "a1", "JPN", clearance="HI", need_to_know=["maritime"])
    assert record.to_dict() | {"created_at": "-"} == {
        "id": "a1",
        "nation": "JPN",
        "clearance": "HI",
        "clearance_expires": None,
        "need_to_know": ["maritime"],
        "role": "analyst",
        "categories": {},
        "disabled": False,
        "created_at": "-",
    }
    assert node.accounts.disable(admin, "a1").disabled
    assert not node.accounts.enable(admin, "a1").disabled
    _, second = node.accounts.rotate_token(OPERATOR, "a1")
    changed = node.accounts.set(
        admin, "a1", Changes(clearance="GOKUHI", clearance_expires=dt.date(2030, 1, 1))
    )
    assert (changed.user.clearance, changed.user.clearance_expires) == (
        "GOKUHI",
        dt.date(2030, 1, 1),
    )
    assert changed.user.need_to_know == ("maritime",)  # kept
    node.accounts.remove(admin, "a1")
    log = entries(node)
    assert [(e["kind"], e["actor"]) for e in log] == [
        ("user.added", "cli"),
        ("user.added", "adm"),
        ("user.disabled", "adm"),
        ("user.enabled", "adm"),
        ("user.token_rotated", "cli"),
        ("user.changed", "adm"),
        ("user.removed", "adm"),
    ]
    assert log[5]["data"] == {
        "user": "a1",
        "before": {"clearance": "HI", "clearance_expires": None},
        "after": {"clearance": "GOKUHI", "clearance_expires": "2030-01-01"},
        "subject": "user:a1",  # the account's version, for its row (``node.versions``)
        "version": 5,
    }
    assert log[6]["data"]["version"] == 6  # its removal too: the row put back is refused
    text = json.dumps(log)
    for secret in (first, second, token_hash(first), token_hash(second)):
        assert secret not in text
    assert node.verify_audit() is not None


def test_a_disabled_rotated_or_removed_user_cannot_authenticate(node: Node) -> None:
    _, token = node.add_user("a1", "JPN", clearance="HI")
    assert node.authenticate(token).id == "a1"  # trusted from here on for a moment
    node.accounts.disable(OPERATOR, "a1")
    with pytest.raises(Disabled, match="the account 'a1' is disabled"):
        node.authenticate(token)  # the change was made here: forgotten at once
    node.accounts.enable(OPERATOR, "a1")
    assert node.authenticate(token).id == "a1"
    _, new = node.accounts.rotate_token(OPERATOR, "a1")
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        node.authenticate(token)
    assert node.authenticate(new).id == "a1"
    node.accounts.set(OPERATOR, "a1", Changes(clearance="KIMITSU", role=Role.OFFICER))
    assert (node.authenticate(new).clearance, node.authenticate(new).role) == (
        "KIMITSU",
        Role.OFFICER,
    )
    node.accounts.remove(OPERATOR, "a1")
    with pytest.raises(Unauthorized):
        node.authenticate(new)
    with pytest.raises(NotFound, match="no user 'a1'"):
        node.accounts.get(OPERATOR, "a1")


def test_changes_are_checked_against_the_catalogue(node: Node) -> None:
    node.add_user("a1", "JPN", clearance="HI")
    cases: list[tuple[Changes, str]] = [
        (Changes(clearance="S"), "clearance"),  # CAN's level, not JPN's
        (Changes(need_to_know=["ok", ""]), "need_to_know[1]"),
        (Changes(need_to_know=["x" * 65]), "need_to_know[0]"),
        (Changes(), "changes"),
    ]
    for changes, place in cases:
        with pytest.raises(InputError) as refused:
            node.accounts.set(OPERATOR, "a1", changes)
        assert refused.value.place == place
    with pytest.raises(InputError) as refused:
        node.accounts.add(OPERATOR, "a2", "ZZZ")
    assert refused.value.place == "nation"
    with pytest.raises(Conflict):
        node.accounts.add(OPERATOR, "a1", "JPN")
    for missing in ("nobody", "", "x" * 500, "a\x00b"):
        with pytest.raises(NotFound):
            node.accounts.disable(OPERATOR, missing)
    assert node.accounts.get(OPERATOR, "a1").user.clearance == "HI"
    assert [e["kind"] for e in entries(node)] == ["user.added"]  # nothing else stored


def test_the_authority_decides_who_may_change_accounts(node: Node) -> None:
    admin = admin_of(node, "GOKUHI")
    officer, _ = node.add_user("off", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    analyst, _ = node.add_user("ana", "JPN", clearance="KIMITSU")
    foreign, _ = node.add_user("can-adm", "CAN", clearance="TS", role=Role.ADMIN)
    node.add_user("high", "JPN", clearance="KIMITSU")

    def refusal(actor: User, change: Any) -> str:
        with pytest.raises(Forbidden) as refused:
            change(actor)
        return refused.value.code

    for actor in (officer, analyst):
        assert refusal(actor, lambda a: node.accounts.list(a)) == "ROLE"
        assert refusal(actor, lambda a: node.accounts.disable(a, "ana")) == "ROLE"
        assert refusal(actor, lambda a: node.accounts.disable(a, "nobody")) == "ROLE"
    assert refusal(foreign, lambda a: node.accounts.list(a)) == "FOREIGN_USER"
    above = "ABOVE_OWN_CLEARANCE"
    assert refusal(admin, lambda a: node.accounts.add(a, "n", "JPN", clearance="KIMITSU")) == above
    assert refusal(admin, lambda a: node.accounts.set(a, "ana", Changes(clearance="TOKUTEI"))) == (
        above
    )
    assert refusal(admin, lambda a: node.accounts.disable(a, "high")) == above
    assert refusal(admin, lambda a: node.accounts.disable(a, "adm")) == "OWN_ACCOUNT"
    assert refusal(admin, lambda a: node.accounts.rotate_token(a, "adm")) == "OWN_ACCOUNT"
    # within its own clearance an admin does what the operator does
    assert node.accounts.set(admin, "ana", Changes(clearance="HI")).user.clearance == "HI"
    assert node.accounts.add(admin, "new", "JPN", clearance="GOKUHI")[0].user.clearance == "GOKUHI"
    assert [r.id for r in node.accounts.list(admin)] == [
        "adm",
        "ana",
        "can-adm",
        "high",
        "new",
        "off",
    ]
    assert node.authenticate(node.accounts.rotate_token(admin, "ana")[1]).id == "ana"


def test_set_keeps_what_it_is_not_given_and_clears_what_is_given_empty(node: Node) -> None:
    node.add_user("a1", "JPN", clearance="HI", need_to_know=["maritime", "cyber"])
    node.accounts.set(OPERATOR, "a1", Changes(clearance_expires=dt.date(2031, 5, 1)))
    cleared = node.accounts.set(OPERATOR, "a1", Changes(clearance=None, need_to_know=(), role=KEEP))
    assert cleared.user == User("a1", "JPN", None, dt.date(2031, 5, 1), (), Role.ANALYST)
    unchanged = len(entries(node))
    node.accounts.set(OPERATOR, "a1", Changes(clearance=None))  # as it is: nothing written
    assert len(entries(node)) == unchanged
    node.accounts.disable(OPERATOR, "a1")
    node.accounts.disable(OPERATOR, "a1")
    assert len(entries(node)) == unchanged + 1


# -- web sessions ---------------------------------------------------------------------------


def signed_in(node: Node, token: str) -> tuple[str, str]:
    user = node.authenticate(token)
    session, secret = node.sessions.open(user, token_hash(token))
    return session.sid, secret


def test_a_session_is_a_row_with_its_secret_hashed(node: Node) -> None:
    _, token = node.add_user("a1", "JPN", clearance="HI")
    sid, secret = signed_in(node, token)
    found = node.sessions.find(sid, secret)
    assert found is not None
    assert found.user.id == "a1"
    with node.engine.connect() as connection:
        row = connection.execute(select(sessions)).one()
    assert (row.id, row.user_id, row.secret_hash) == (sid, "a1", secret_hash(secret))
    assert secret not in json.dumps(entries(node))
    assert [e["kind"] for e in entries(node)][-1] == "session.opened"
    altered = secret[:-1] + ("B" if secret.endswith("A") else "A")
    assert node.sessions.find(sid, altered) is None
    assert node.sessions.find("A" * 22, secret) is None
    assert node.sessions.find(sid + "'--", secret) is None
    node.sessions.end(found)
    assert node.sessions.find(sid, secret) is None
    assert entries(node)[-1]["kind"] == "session.ended"


@pytest.mark.parametrize("change", ["disable", "rotate_token", "remove"])
def test_disable_rotate_and_remove_end_the_users_sessions(node: Node, change: str) -> None:
    _, token = node.add_user("a1", "JPN", clearance="HI")
    _, other = node.add_user("a2", "JPN", clearance="HI")
    first, second, kept = signed_in(node, token), signed_in(node, token), signed_in(node, other)
    assert node.sessions.find(*first) is not None
    getattr(node.accounts, change)(OPERATOR, "a1")
    assert node.sessions.find(*first) is None
    assert node.sessions.find(*second) is None
    assert node.sessions.find(*kept) is not None
    assert entries(node)[-1]["data"]["sessions"] == 2
    if change == "disable":
        node.accounts.enable(OPERATOR, "a1")
        assert node.sessions.find(*first) is None  # not revived
        assert node.sessions.find(*signed_in(node, token)) is not None


def test_a_session_sees_a_change_of_clearance(node: Node) -> None:
    _, token = node.add_user("a1", "JPN", clearance="KIMITSU")
    sid, secret = signed_in(node, token)
    node.accounts.set(OPERATOR, "a1", Changes(clearance="HI"))
    found = node.sessions.find(sid, secret)
    assert found is not None
    assert found.user.clearance == "HI"


def test_a_session_ends_with_its_token_and_its_lifetime(node: Node) -> None:
    """A session opened in a race with a rotation (its row stored after the rotation
    deleted the user's) holds only with the token it was opened with; an expired session
    is refused, and deleted at the next sign-in."""
    _, token = node.add_user("a1", "JPN", clearance="HI")
    sid, secret = signed_in(node, token)
    stale = signed_in(node, token)
    with writing(node.engine) as connection:
        connection.execute(
            update(users).where(users.c.id == "a1").values(token_hash=token_hash("another"))
        )
        connection.execute(
            update(sessions).where(sessions.c.id == stale[0]).values(expires_at="2000-01-01")
        )
    node.sessions.forget()
    assert node.sessions.find(sid, secret) is None
    with writing(node.engine) as connection:
        connection.execute(
            update(users).where(users.c.id == "a1").values(token_hash=token_hash(token))
        )
    assert node.sessions.find(sid, secret) is not None
    assert node.sessions.find(*stale) is None  # expired
    signed_in(node, token)
    with node.engine.connect() as connection:
        left = set(connection.execute(select(sessions.c.id)).scalars())
    assert stale[0] not in left
    assert sid in left
    assert entries(node)[-1]["data"]["expired_deleted"] == 1


def test_a_disabled_user_opens_no_session(node: Node) -> None:
    user, token = node.add_user("a1", "JPN", clearance="HI")
    node.accounts.disable(OPERATOR, "a1")
    with pytest.raises(Unauthorized):
        node.sessions.open(user, token_hash(token))  # checked in the store, not trusted


# -- the migration --------------------------------------------------------------------------


def _alembic(engine: Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with writing(engine) as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _user(user_id: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "nation": "JPN",
        "need_to_know": "[]",
        "role": "analyst",
        "token_hash": token_hash(user_id),
        "created_at": "t",
    }


def test_the_migration_adds_disabled_and_sessions_and_goes_back(
    bare_engine: Engine,  # noqa: F811 - the fixture imported above
) -> None:
    engine = bare_engine
    _alembic(engine, "upgrade", "0006")
    with writing(engine) as connection:
        connection.execute(insert(users).values(**_user("old")))
    _alembic(engine, "upgrade", "head")
    with writing(engine) as connection:
        assert connection.execute(select(users.c.disabled)).scalar() is False  # the default
        connection.execute(insert(users).values(**_user("off"), disabled=True))
        connection.execute(
            insert(sessions).values(
                id="s" * 22,
                secret_hash=secret_hash("s"),
                user_id="old",
                token_hash=token_hash("old"),
                created_at="t",
                expires_at="t",
            )
        )
    with pytest.raises(RuntimeError, match="1 users are disabled"):
        _alembic(engine, "downgrade", "0006")
    with writing(engine) as connection:
        connection.execute(update(users).values(disabled=False))
    _alembic(engine, "downgrade", "0006")
    with engine.connect() as connection:
        names = [r[0] for r in connection.exec_driver_sql("SELECT id FROM users ORDER BY id")]
    assert names == ["off", "old"]
    _alembic(engine, "upgrade", "head")
