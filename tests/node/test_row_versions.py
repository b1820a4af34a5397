"""Rows bound to their latest version: an older row put back in SQL is refused, not served.

Each test makes the node change a row through its own use cases (a reclassification, an
account change, a re-pin), keeps the row as it was before, and puts it back with
SQLAlchemy on the node's engine, behind its back: every column as the node once wrote and
signed it. The audit log recorded a later version, so the row is refused: an item is not
read (``IntegrityFailure``, audited) nor listed; a user's token authenticates no one; a
peer is not pinned. Edits of a user's or a peer's security fields in SQL (unsigned until
now) are refused the same way. Rows changed as normal are served, across a restart; rows
from before versions are adopted once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table, delete, insert, select, update

from gsoia.api import create_app
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import binding_message, sign
from gsoia.federation.packages import PackageRejected, Rejection
from gsoia.federation.peers import Peer
from gsoia.node.accounts import Changes, Disabled
from gsoia.node.adoption import PENDING
from gsoia.node.authority import OPERATOR
from gsoia.node.errors import Conflict, IntegrityFailure, TamperedAccount
from gsoia.node.item import held_label, label_columns, signed_fields, stored_item
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.node.vault import encoded_columns
from gsoia.store.schema import audit_entries, items, meta, peers, users
from tests import loopback
from tests.attacks.simulator import PeerSimulator
from tests.node.conftest import RunningNode

LOW = {
    "originator": "JPN",
    "classification": "HI",
    "area": "maritime",
    "releasable_to": [],
    "need_to_know": [],
}


@pytest.fixture
def node(jpn: RunningNode) -> Iterator[Node]:
    opened = jpn.open()
    try:
        yield opened
    finally:
        opened.close()


def add(node: Node, user_id: str, clearance: str, role: Role = Role.ANALYST) -> User:
    user, _ = node.add_user(user_id, "JPN", clearance=clearance, role=role)
    return user


def row_of(node: Node, table: Table, where: Any) -> dict[str, Any]:
    with node.engine.connect() as connection:
        return dict(connection.execute(select(table).where(where)).one()._mapping)


def put_back(node: Node, table: Table, where: Any, row: dict[str, Any]) -> None:
    """Write ``row`` over the current one, behind the node's back."""
    with node.engine.begin() as connection:
        connection.execute(update(table).where(where).values(**row))


def kinds(node: Node) -> list[str]:
    with node.engine.connect() as connection:
        return list(connection.execute(select(audit_entries.c.kind)).scalars())


def reopened(jpn: RunningNode, node: Node) -> Node:
    node.close()
    return jpn.open()


# -- items --------------------------------------------------------------------------------


def test_an_item_restored_after_its_reclassification_is_neither_read_nor_listed(
    jpn: RunningNode, node: Node
) -> None:
    officer = add(node, "jp-o", "KIMITSU", Role.OFFICER)
    analyst = add(node, "jp-h", "HI")
    item_id = node.create_item(officer, LOW, "Low, for now", b"LOW-THEN-HIGH")["id"]
    assert node.read_item(analyst, item_id)["content"] == "LOW-THEN-HIGH"
    where = items.c.id == item_id
    earlier = row_of(node, items, where)
    node.exchange.reclassify(officer, item_id, "GOKUHI")
    assert node.list_items(analyst)["items"] == []

    put_back(node, items, where, earlier)
    refused_by(node, analyst, item_id)
    restarted = reopened(jpn, node)
    try:
        refused_by(restarted, analyst, item_id)
        assert kinds(restarted).count("integrity") >= 3  # two reads, the listing restarted
    finally:
        restarted.close()


def refused_by(node: Node, user: User, item_id: str) -> None:
    """The item is refused to ``user``: not read, not listed (each audited)."""
    with pytest.raises(IntegrityFailure):
        node.read_item(user, item_id)
    assert node.list_items(user)["items"] == []


def test_an_item_in_a_version_the_log_never_recorded_is_refused(node: Node) -> None:
    officer = add(node, "jp-o", "KIMITSU", Role.OFFICER)
    item_id = node.create_item(officer, LOW, "Low", b"LOW")["id"]
    with node.engine.begin() as connection:
        connection.execute(update(items).where(items.c.id == item_id).values(version=7))
    with pytest.raises(IntegrityFailure):
        node.read_item(officer, item_id)


# -- users --------------------------------------------------------------------------------


def test_a_clearance_raised_in_sql_authenticates_no_one(node: Node) -> None:
    _, token = node.add_user("jp-h", "JPN", clearance="HI")
    assert node.authenticate(token).clearance == "HI"
    with node.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == "jp-h").values(clearance="KIMITSU"))
    node.accounts._forget()  # the second it trusts a token, skipped
    with pytest.raises(TamperedAccount):
        node.authenticate(token)
    app = create_app(node)
    with loopback.client(
        transport=loopback.InProcess(app),
        base_url="http://node.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        answer = client.get("/api/v1/items")
    assert answer.status_code == 401
    assert answer.json()["type"].endswith("/problems/integrity")
    assert kinds(node).count("integrity") == 2


def test_a_disabled_users_earlier_row_put_back_is_refused(jpn: RunningNode, node: Node) -> None:
    _, token = node.add_user("jp-h", "JPN", clearance="HI")
    where = users.c.id == "jp-h"
    enabled = row_of(node, users, where)
    node.accounts.disable(OPERATOR, "jp-h")
    with pytest.raises(Disabled):
        node.authenticate(token)
    put_back(node, users, where, enabled)
    with pytest.raises(TamperedAccount):
        node.authenticate(token)
    restarted = reopened(jpn, node)
    try:
        with pytest.raises(TamperedAccount):
            restarted.authenticate(token)
        with pytest.raises(IntegrityFailure):  # nor is it changed, and so signed again
            restarted.accounts.enable(OPERATOR, "jp-h")
    finally:
        restarted.close()


def test_a_removed_users_row_put_back_is_refused(node: Node) -> None:
    _, token = node.add_user("jp-h", "JPN", clearance="HI")
    removed = row_of(node, users, users.c.id == "jp-h")
    node.accounts.remove(OPERATOR, "jp-h")
    with node.engine.begin() as connection:
        connection.execute(insert(users).values(**removed))
    with pytest.raises(TamperedAccount):
        node.authenticate(token)


def test_accounts_changed_as_normal_are_served_across_a_restart(
    jpn: RunningNode, node: Node
) -> None:
    _, token = node.add_user("jp-h", "JPN", clearance="HI")
    node.accounts.set(OPERATOR, "jp-h", Changes(clearance="GOKUHI"))
    node.accounts.disable(OPERATOR, "jp-h")
    node.accounts.enable(OPERATOR, "jp-h")
    _, token = node.accounts.rotate_token(OPERATOR, "jp-h")
    assert node.authenticate(token).clearance == "GOKUHI"
    node.accounts.remove(OPERATOR, "jp-h")
    _, again = node.add_user("jp-h", "JPN", clearance="KIMITSU")  # the same id, once more
    assert node.authenticate(again).clearance == "KIMITSU"
    restarted = reopened(jpn, node)
    try:
        assert restarted.authenticate(again).clearance == "KIMITSU"
        assert restarted.accounts.set(OPERATOR, "jp-h", Changes(clearance="HI")).user.clearance
    finally:
        restarted.close()


# -- peers --------------------------------------------------------------------------------


def kor(url: str = "http://kor.test") -> Peer:
    return Peer("KOR", url, NodeKeys.generate().public())


def test_a_peers_keys_repinned_in_sql_are_refused(jpn: RunningNode, node: Node) -> None:
    node.exchange.add_peer(kor())
    attacker = NodeKeys.generate().public()
    with node.engine.begin() as connection:
        connection.execute(
            update(peers)
            .where(peers.c.nation == "KOR")
            .values(
                signing_key=attacker.signing,
                sealing_key=attacker.sealing,
                fingerprint=attacker.fingerprint(),
            )
        )
    restarted = reopened(jpn, node)
    try:
        assert restarted.exchange.known_peer("KOR") is None
        officer = add(restarted, "jp-o", "KIMITSU", Role.OFFICER)
        item_id = restarted.create_item(officer, {**LOW, "releasable_to": ["KOR"]}, "T", b"C")
        with pytest.raises(Conflict):  # nothing is sealed to the keys put in
            restarted.exchange.release(officer, item_id["id"], "KOR")
        restarted.exchange.peers_book.report()
        assert "integrity" in kinds(restarted)
    finally:
        restarted.close()


def test_packages_signed_with_keys_pinned_in_sql_are_not_opened(node: Node) -> None:
    genuine = PeerSimulator("KOR", "JPN", node.public)
    node.exchange.add_peer(Peer("KOR", "http://kor.test", genuine.public))
    assert opened(node, genuine)  # refused later, for naming no item
    attacker = PeerSimulator("KOR", "JPN", node.public)
    with node.engine.begin() as connection:
        connection.execute(
            update(peers)
            .where(peers.c.nation == "KOR")
            .values(
                signing_key=attacker.public.signing,
                sealing_key=attacker.public.sealing,
                fingerprint=attacker.public.fingerprint(),
            )
        )
    assert not opened(node, attacker)
    assert not opened(node, genuine)  # nor the peer's own: its pin no longer holds
    assert "integrity" in kinds(node)


def opened(node: Node, sender: PeerSimulator) -> bool:
    """Whether the node opened an incident notice of ``sender`` (one of no item: refused
    once opened, for that)."""
    raw = json.dumps(sender.incident("no-such-item").signed()).encode()
    with pytest.raises(PackageRejected) as refused:
        node.exchange.receive(raw)
    return refused.value.reason is Rejection.UNKNOWN_ITEM


def test_a_peers_earlier_pin_put_back_is_refused(jpn: RunningNode, node: Node) -> None:
    first = node.exchange.add_peer(kor())
    where = peers.c.nation == "KOR"
    earlier = row_of(node, peers, where)
    second = node.exchange.add_peer(kor("http://kor.example"))  # the operator pins anew
    assert node.exchange.known_peer("KOR") == second != first
    put_back(node, peers, where, earlier)
    restarted = reopened(jpn, node)
    try:
        assert restarted.exchange.known_peer("KOR") is None
        again = restarted.exchange.add_peer(kor())  # pinned anew by the operator: it holds
        assert restarted.exchange.known_peer("KOR") == again
    finally:
        restarted.close()
    third = jpn.open()
    try:
        assert third.exchange.known_peer("KOR") == again
    finally:
        third.close()


def test_a_second_process_serves_the_rows_the_first_changed(jpn: RunningNode, node: Node) -> None:
    """Two processes of one node (two workers): each serves the versions the other
    recorded (it catches up with the log on a version it does not know)."""
    officer = add(node, "jp-o", "KIMITSU", Role.OFFICER)
    item_id = node.create_item(officer, LOW, "Low, for now", b"C")["id"]
    other = jpn.open()
    try:
        assert other.read_item(officer, item_id)["content"] == "C"
        node.exchange.reclassify(officer, item_id, "GOKUHI")
        _, token = node.add_user("jp-h", "JPN", clearance="HI")
        node.accounts.set(OPERATOR, "jp-h", Changes(clearance="GOKUHI"))
        node.exchange.add_peer(kor())
        repinned = node.exchange.add_peer(kor("http://kor.example"))
        assert other.read_item(officer, item_id)["label"]["classification"] == "GOKUHI"
        assert [i["id"] for i in other.list_items(officer)["items"]] == [item_id]
        assert other.authenticate(token).clearance == "GOKUHI"
        assert other.exchange.known_peer("KOR") == repinned
        assert "integrity" not in kinds(other)
    finally:
        other.close()


def test_a_second_process_refuses_an_item_put_back_after_the_first_changed_it(
    jpn: RunningNode, node: Node
) -> None:
    """A process that knew an item in version 1, and reads it in version 1 again after
    another process changed it to version 2 and an attacker put the first row back: its
    next read and its next listing judge the row against the log as it is (refused, each
    audited), with nothing else in between to tell it."""
    officer = add(node, "jp-o", "KIMITSU", Role.OFFICER)
    analyst = add(node, "jp-h", "HI")
    item_id = node.create_item(officer, LOW, "Low, for now", b"C")["id"]
    other = jpn.open()
    try:
        assert other.read_item(analyst, item_id)["content"] == "C"  # version 1, known there
        assert [i["id"] for i in other.list_items(analyst)["items"]] == [item_id]
        where = items.c.id == item_id
        earlier = row_of(node, items, where)
        node.exchange.reclassify(officer, item_id, "GOKUHI")
        put_back(node, items, where, earlier)
        before = kinds(other).count("integrity")
        with pytest.raises(IntegrityFailure):
            other.read_item(analyst, item_id)
        listed = other.list_items(analyst)
        assert listed["items"] == []
        assert kinds(other).count("integrity") == before + 2  # the read, the listing
        with pytest.raises(IntegrityFailure):  # the officer, cleared for version 2, too
            other.read_item(officer, item_id)
    finally:
        other.close()


def test_a_second_process_refuses_a_pin_put_back_after_the_first_changed_it(
    jpn: RunningNode, node: Node
) -> None:
    """A pin is read again for every package the inbox opens (and every two seconds for
    sending): each read judges it against the log as it is."""
    first = node.exchange.add_peer(kor())
    other = jpn.open()
    try:
        other.exchange.peers_book.load()
        assert other.exchange.peers_book.cached("KOR") == first  # version 1, known there
        where = peers.c.nation == "KOR"
        earlier = row_of(node, peers, where)
        node.exchange.add_peer(kor("http://kor.example"))
        put_back(node, peers, where, earlier)
        other.exchange.peers_book.load()
        assert other.exchange.peers_book.cached("KOR") is None
    finally:
        other.close()


def test_a_second_process_refuses_an_account_put_back_after_the_first_changed_it(
    jpn: RunningNode, node: Node
) -> None:
    """An account is read seldom: each read catches up with the log first."""
    _, token = node.add_user("jp-h", "JPN", clearance="HI")
    other = jpn.open()
    try:
        assert other.authenticate(token).clearance == "HI"  # version 1, known there
        where = users.c.id == "jp-h"
        enabled = row_of(node, users, where)
        node.accounts.disable(OPERATOR, "jp-h")
        put_back(node, users, where, enabled)
        other.accounts._forget()  # the second it trusts a token, skipped
        with pytest.raises(TamperedAccount):
            other.authenticate(token)
    finally:
        other.close()


# -- rows from before versions ------------------------------------------------------------


def test_rows_from_before_versions_are_adopted_once(jpn: RunningNode, node: Node) -> None:
    """A database migrated to 0010: its rows, signed before versions, are signed and
    recorded as the node first opens it; marking it again later adopts nothing.

    The database from before versions is made here: a log without versions (the entry
    adding the account, the last, is cut off: the log is opened without its anchor), an
    account without signature, an item signed without its version."""
    node.audit.record("node.started", "cli", {})  # a log from before versions: no version
    keys, vault = node.keys, node.vault
    fields = {
        "id": "old-item",
        "title": "Filed before versions",
        **label_columns(LOW),  # type: ignore[arg-type]
        "custodian": "JPN",
        "consented_to": "[]",
        "created_at": "2026-01-01T00:00:00+00:00",
        "created_by": "jp-o",
        "version": 1,
    }
    stored = vault.sealed(fields, b"OLD")
    unversioned = {k: v for k, v in signed_fields(stored_item(stored)).items() if k != "version"}
    stored["signature"] = sign(keys.signing, binding_message(unversioned, stored["content_digest"]))
    encoded = vault.encode(held_label(stored_item(stored)), {})
    _, token = node.add_user("jp-o", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    with node.engine.begin() as connection:
        connection.execute(delete(audit_entries).where(audit_entries.c.kind == "user.added"))
        connection.execute(update(users).values(signature=None))
        connection.execute(insert(items).values(**stored, **encoded_columns(encoded)))
        connection.execute(insert(meta).values(name=PENDING, value="1"))
    node.close()
    adopting = jpn.open(anchored=False)
    try:
        officer = adopting.authenticate(token)
        assert adopting.read_item(officer, "old-item")["content"] == "OLD"
        assert "rows.adopted" in kinds(adopting)
    finally:
        adopting.close()
    again = jpn.open(anchored=False)
    try:
        with again.engine.begin() as connection:
            connection.execute(update(users).values(clearance="GOKUHI", signature=None))
            connection.execute(insert(meta).values(name=PENDING, value="1"))
    finally:
        again.close()
    marked_again = jpn.open(anchored=False)
    try:
        with pytest.raises(TamperedAccount):
            marked_again.authenticate(token)
        assert kinds(marked_again).count("rows.adopted") == 1
    finally:
        marked_again.close()
