"""Edits to the store behind the node's back are found, and never widen what anyone sees.

Each test changes exactly one thing in the database (python-tuf style: one row, one
column, or one logical edit an attacker would make consistently), with SQLAlchemy on the
node's own engine, then asks the node:

- an item whose signed label, title, custody or content was edited is refused on read
  (500, ``/problems/integrity``) and left out of every listing; its content never leaves;
- an item whose encoded columns (``label_key``, ``open_bits``, ``need_bits``) were edited
  to admit someone is still decided on its verified label: not listed, read refused with
  the untampered decision;
- an audit log edited in any way fails ``Node.verify_audit`` at the first bad entry, and
  ``gsoia audit verify`` exits non-zero with one line naming that entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, delete, insert, select, update

import gsoia
from gsoia.api import create_app
from gsoia.audit.log import AuditVerifyError, head_message
from gsoia.audit.merkle import CompactRange, leaf_hash
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.signing import digest
from gsoia.decision import Decision
from gsoia.decision.labels import encode_label
from gsoia.node.columns import to_bits
from gsoia.store.schema import audit_entries, items, topics
from tests import loopback
from tests.cli.cli_support import run_in_process
from tests.node.conftest import (
    Database,
    RunningNode,
    copied_database,
    make_node,
    template_database,
)

GSOIA = str(Path(sys.executable).parent / "gsoia")
TOPICS = ["maritime", "missile", "cyber", "space"]

# who may see what, untampered (see ITEMS): the users each tampering tries to admit
USERS: dict[str, dict[str, Any]] = {
    "jp-k": {"nation": "JPN", "clearance": "KIMITSU", "need_to_know": TOPICS},
    "jp-h": {"nation": "JPN", "clearance": "HI", "need_to_know": ["maritime"]},
    "ca-s": {"nation": "CAN", "clearance": "S", "need_to_know": ["maritime"]},
    "ca-c": {"nation": "CAN", "clearance": "C", "need_to_know": ["maritime"]},
    "ca-s-none": {"nation": "CAN", "clearance": "S", "need_to_know": []},
    "us-s": {"nation": "USA", "clearance": "S", "need_to_know": ["maritime"]},
    "kr-ii": {"nation": "KOR", "clearance": "II", "need_to_know": ["maritime"]},
}
ITEMS: dict[str, dict[str, Any]] = {
    # jp-k and ca-s only
    "target": {
        "originator": "JPN",
        "classification": "GOKUHI",
        "area": "maritime",
        "releasable_to": ["CAN"],
        "need_to_know": ["maritime"],
    },
    # jp-k only
    "noforn": {
        "originator": "JPN",
        "classification": "TOKUTEI",
        "area": "defence",
        "releasable_to": [],
        "need_to_know": [],
    },
    # everyone
    "open": {
        "originator": "JPN",
        "classification": "HI",
        "area": None,
        "releasable_to": ["FVEY", "KOR"],
        "need_to_know": [],
    },
}


def secret(name: str) -> str:
    return f"SECRET-CONTENT-OF-{name.upper()}"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@functools.cache
def rulebook() -> gsoia.Rulebook:
    return gsoia.load_catalogue()


def decide(user: str, label: dict[str, Any], custodian: str = "JPN") -> Decision:
    return rulebook().decide(
        {
            "subject": {"id": user, **USERS[user]},
            "label": label,
            "custodian": custodian,
            "consented_to": [],
            "at": today().isoformat(),
        }
    )


def allowed(user: str) -> list[str]:
    """The names of the items ``user`` may see, untampered, in filing order."""
    return [name for name, label in ITEMS.items() if decide(user, label).allow]


@dataclass
class Filed:
    """A JPN node with USERS and ITEMS, stopped; ``ids`` maps item names to ids."""

    node: RunningNode
    ids: dict[str, str] = field(default_factory=dict)

    def name_of(self, item_id: str) -> str:
        return {v: k for k, v in self.ids.items()}[item_id]

    def edit(self, change: Callable[[Connection], None]) -> None:
        """Change the store directly, on the node's engine, behind the node's back."""
        node = self.node.open(anchored=False)
        try:
            with node.engine.begin() as connection:
                change(connection)
        finally:
            node.close()

    def row(self, name: str) -> Any:
        node = self.node.open()
        try:
            with node.engine.connect() as connection:
                return connection.execute(select(items).where(items.c.id == self.ids[name])).one()
        finally:
            node.close()

    def set(self, name: str, **values: Any) -> None:
        self.edit(
            lambda c: c.execute(update(items).where(items.c.id == self.ids[name]).values(**values))
        )

    @contextlib.contextmanager
    def served(self) -> Iterator[Callable[[str], httpx.Client]]:
        """The node's REST API, opened now (after any edit), in this process.

        The same ASGI application ``gsoia serve`` runs, without the seconds a server
        process takes to start; tests that need the real process use ``node.start()``.
        """
        node = self.node.open()
        app = create_app(node)
        try:
            yield lambda user: loopback.client(
                transport=loopback.InProcess(app),
                base_url="http://node.test",
                headers={"Authorization": f"Bearer {self.node.tokens[user]}"},
            )
        finally:
            node.close()


def sanity() -> None:
    """Guard: the fixture's users see what ITEMS says they see (ITEMS comments)."""
    assert allowed("jp-k") == ["target", "noforn", "open"]
    assert allowed("ca-s") == ["target", "open"]
    for user in ("jp-h", "ca-c", "ca-s-none", "us-s", "kr-ii"):
        assert allowed(user) == ["open"], user


def _populated(jpn: RunningNode) -> Filed:
    """``jpn`` with USERS and ITEMS."""
    node = jpn.open()
    try:
        users = {}
        for user_id, attributes in USERS.items():
            users[user_id], jpn.tokens[user_id] = node.add_user(user_id, **attributes)
        result = Filed(jpn)
        for name, label in ITEMS.items():
            view = node.create_item(users["jp-k"], label, f"Title of {name}", secret(name).encode())
            result.ids[name] = view["id"]
    finally:
        node.close()
    return result


def _copy(template: Filed, tmp_path: Path, database: Database) -> Filed:
    """A copy of the stopped node ``template``: its data directory, with ``database``."""
    data = tmp_path / template.node.data.name
    shutil.copytree(template.node.data, data)
    config = json.loads((data / "node.json").read_text())  # where its store is: the copy's
    config["database"] = database.url or config["database"].replace(
        str(template.node.data), str(data)
    )
    (data / "node.json").write_text(json.dumps(config, indent=2))
    node = RunningNode(data, template.node.nation, database, tokens=dict(template.node.tokens))
    node.in_process = True
    return Filed(node, dict(template.ids))


@contextlib.contextmanager
def _copied(template: Filed, tmp_path: Path) -> Iterator[Filed]:
    with copied_database(template.node.database) as database:
        copy = _copy(template, tmp_path, database)
        try:
            yield copy
        finally:
            copy.node.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def templates(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Filed]]:
    """The nodes each test gets a copy of (data directory and database), made once a
    module and database: ``filed`` (USERS and ITEMS) and ``audited`` (see ``audited``)."""
    sanity()
    with template_database(request.param) as database:
        filed = _populated(make_node(tmp_path_factory.mktemp("filed"), database))
        with _copied(filed, tmp_path_factory.mktemp("audited")) as audited:
            _read_everything(audited)
            yield {"filed": filed, "audited": audited}


@pytest.fixture
def filed(templates: dict[str, Filed], tmp_path: Path) -> Iterator[Filed]:
    """A copy of the JPN node with USERS and ITEMS, stopped."""
    with _copied(templates["filed"], tmp_path) as copy:
        yield copy


def listed(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/items", params=query)
        assert response.status_code == 200, response.text
        assert "SECRET-CONTENT" not in response.text
        found += response.json()["items"]
        cursor = response.json()["next"]
        if cursor is None:
            return found


def integrity_refusal(response: httpx.Response) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/integrity"
    assert "SECRET-CONTENT" not in response.text


def audit_kinds(filed: Filed, kind: str) -> list[dict[str, Any]]:
    node = filed.node.open()
    try:
        with node.engine.connect() as connection:
            bodies = connection.execute(
                select(audit_entries.c.body).where(audit_entries.c.kind == kind)
            ).scalars()
            return [json.loads(body)["data"] for body in bodies]
    finally:
        node.close()


# -- the signed label, custody and content ------------------------------------------------


@dataclass(frozen=True)
class Tamper:
    """One edit of one item; ``newly`` are users the edited label would newly admit."""

    name: str
    item: str
    edit: Callable[[Filed], None]
    label: dict[str, Any] | None = None  # the label the edit claims, if it edits the label
    newly: tuple[str, ...] = ()
    label_verifies: bool = False  # the edit leaves the signed label intact (a key edit)


def _set(item: str, **values: Any) -> Callable[[Filed], None]:
    return lambda f: f.set(item, **values)


def _label_edit(item: str, newly: tuple[str, ...] = (), **changes: Any) -> Tamper:
    """The label's text columns edited, nothing else (the encoded columns stay)."""
    label = ITEMS[item] | changes
    stored = {k: json.dumps(v) if isinstance(v, list) else v for k, v in changes.items()}
    name = "-".join(f"{k}={v}" for k, v in changes.items())
    return Tamper(name, item, _set(item, **stored), label, newly)


def _flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _flip_column(item: str, column: str) -> Callable[[Filed], None]:
    def edit(f: Filed) -> None:
        f.set(item, **{column: _flip(bytes(getattr(f.row(item), column)), 5)})

    return edit


def _content_of_another(f: Filed) -> None:
    """The target's content replaced by another item's, its (unsigned) digest recomputed."""
    other = f.row("noforn")
    f.set("target", ciphertext=bytes(other.ciphertext), content_digest=digest(other.ciphertext))


def _new_content_same_digest_rule(f: Filed) -> None:
    """A ciphertext of the attacker's making with a digest to match."""
    forged = b"\x00" * 12 + b"attacker's bytes" + b"\x00" * 16
    f.set("target", ciphertext=forged, content_digest=digest(forged))


def _key_of_another(f: Filed) -> None:
    f.set("target", wrapped_key=bytes(f.row("noforn").wrapped_key))


def _relabel_with_columns(f: Filed) -> None:
    """NOFORN widened to USA, with the encoded columns the node itself would compute."""
    node = f.node.open()
    try:
        with node.engine.begin() as connection:
            bits = dict(connection.execute(select(topics.c.topic, topics.c.bit)).all())
            label = ITEMS["noforn"] | {"releasable_to": ["USA"], "custodian": "JPN"}
            key, custodian, open_, need = encode_label(node.rulebook.codes, label, bits)  # type: ignore[arg-type]
            connection.execute(
                update(items)
                .where(items.c.id == f.ids["noforn"])
                .values(
                    releasable_to=json.dumps(["USA"]),
                    label_key=key,
                    custodian_code=custodian,
                    open_bits=to_bits(open_, max(1, (open_.bit_length() + 63) // 64)),
                    need_bits=to_bits(need, max(1, (need.bit_length() + 63) // 64)),
                )
            )
    finally:
        node.close()


TAMPERS = [
    _label_edit("target", ("jp-h", "ca-c"), classification="HI"),
    _label_edit("noforn", ("ca-s", "ca-s-none", "us-s"), releasable_to=["FVEY"]),
    _label_edit("target", ("us-s",), releasable_to=["CAN", "USA"]),
    _label_edit("target", ("kr-ii",), releasable_to=["CAN", "KOR"]),
    _label_edit("target", ("ca-s-none",), need_to_know=[]),
    _label_edit("target", area="cyber"),
    _label_edit("target", area=None),
    _label_edit("target", classification="KIMITSU"),
    Tamper("title", "target", _set("target", title="Title of something harmless")),
    Tamper("custodian", "target", _set("target", custodian="CAN")),
    Tamper("consented_to", "target", _set("target", consented_to='["USA", "KOR"]')),
    Tamper("created_by", "target", _set("target", created_by="jp-h")),
    Tamper("created_at", "target", _set("target", created_at="2020-01-01T00:00:00+00:00")),
    Tamper("ciphertext-bit", "target", _flip_column("target", "ciphertext")),
    Tamper("ciphertext-of-another-with-its-digest", "target", _content_of_another),
    Tamper("ciphertext-forged-with-its-digest", "target", _new_content_same_digest_rule),
    Tamper("content_digest-bit", "target", _flip_column("target", "content_digest")),
    Tamper("signature-bit", "target", _flip_column("target", "signature")),
    Tamper("wrapped_key-bit", "target", _flip_column("target", "wrapped_key"), label_verifies=True),
    Tamper("wrapped_key-of-another", "target", _key_of_another, label_verifies=True),
    Tamper(
        "releasable_to=USA-with-matching-columns",
        "noforn",
        _relabel_with_columns,
        ITEMS["noforn"] | {"releasable_to": ["USA"]},
        ("us-s",),
    ),
]


def check_refused_everywhere(
    filed: Filed, tamper: Tamper, connect: Callable[[str], httpx.Client]
) -> None:
    """After ``tamper``: reads refused, listings exactly the untampered ones minus the item."""
    target = filed.ids[tamper.item]
    for user in USERS:
        untampered = decide(user, ITEMS[tamper.item])
        with connect(user) as client:
            response = client.get(f"/api/v1/items/{target}")
            if tamper.label_verifies and not untampered.allow:
                assert response.status_code == 403, (user, response.text)
                assert response.json()["reason"] == untampered.reason.value
            else:
                integrity_refusal(response)
            shown = listed(client)
            want = [
                filed.ids[n]
                for n in allowed(user)
                if not (n == tamper.item and not tamper.label_verifies)
            ]
            assert [i["id"] for i in shown] == want, user
            for item in shown:  # what is shown is the signed, untampered label
                assert item["label"] == ITEMS[filed.name_of(item["id"])]
            if tamper.label is not None and tamper.label.get("area"):  # nor found by its new area
                found = listed(client, area=tamper.label["area"])
                assert target not in [i["id"] for i in found]
            other = client.get(f"/api/v1/items/{filed.ids['open']}")  # the rest still works
            assert other.status_code == 200, other.text
            assert other.json()["content"] == secret("open")


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_an_edited_item_is_refused_and_never_shown(filed: Filed, tamper: Tamper) -> None:
    for user in tamper.newly:  # guard: the edit would matter if the node believed it
        assert tamper.label is not None
        assert decide(user, tamper.label).allow
        assert not decide(user, ITEMS[tamper.item]).allow
    tamper.edit(filed)
    with filed.served() as connect:
        check_refused_everywhere(filed, tamper, connect)
    if not tamper.label_verifies:  # each refused read and listed page is in the audit log
        flagged = [
            e for e in audit_kinds(filed, "integrity") if e["item"] == filed.ids[tamper.item]
        ]
        assert {e["where"] for e in flagged} == {"read", "list"}
        assert sum(e["where"] == "read" for e in flagged) == len(USERS)
    node = filed.node.open()
    try:
        assert node.verify_audit() is not None  # the audit log itself was not touched
    finally:
        node.close()


def test_an_item_edited_while_the_node_serves_is_refused(filed: Filed) -> None:
    """The running node's cached columns are no shield: rows are verified when read."""
    filed.node.start()
    with filed.node.client("us-s") as client:
        assert [i["id"] for i in listed(client)] == [filed.ids["open"]]
    filed.set("noforn", releasable_to='["FVEY"]')
    filed.set("target", releasable_to='["CAN", "USA"]')
    for user in USERS:
        with filed.node.client(user) as client:
            shown = [i["id"] for i in listed(client)]
            assert shown == [filed.ids["open"]], user
            for name in ("noforn", "target"):
                integrity_refusal(client.get(f"/api/v1/items/{filed.ids[name]}"))


def test_a_label_column_that_is_not_json_is_an_integrity_failure(filed: Filed) -> None:
    filed.set("target", releasable_to="[oops")
    filed.node.start()
    with filed.node.client("jp-k") as client:
        integrity_refusal(client.get(f"/api/v1/items/{filed.ids['target']}"))
        assert [i["id"] for i in listed(client)] == [filed.ids["noforn"], filed.ids["open"]]


# -- the encoded columns ------------------------------------------------------------------


def _lower_key(f: Filed) -> None:
    node = f.node.open()
    try:
        f.set("target", label_key=node.rulebook.codes.key("JPN", "HI", "maritime"))
    finally:
        node.close()


COLUMN_TAMPERS = [
    # GOKUHI read as HI: jp-h (JPN HI) and ca-c (CAN C) would pass clearance
    Tamper("label_key-lowered", "target", _lower_key, newly=("jp-h", "ca-c")),
    # NOFORN read as releasable to every nation
    Tamper(
        "open_bits-all",
        "noforn",
        _set("noforn", open_bits=b"\xff" * 8),
        newly=("ca-s", "ca-s-none", "us-s", "kr-ii"),
    ),
    # the maritime need-to-know dropped
    Tamper(
        "need_bits-cleared", "target", _set("target", need_bits=b"\x00" * 8), newly=("ca-s-none",)
    ),
]


def seen_by_columns(filed: Filed, user: str, item: str) -> bool:
    """Whether the node's encoded columns, as stored, admit ``user`` to ``item``."""
    node = filed.node.open()  # loads the columns from the store
    try:
        seq = filed.row(item).seq
        table = node.columns.table()
        verdict = node.rulebook.decide_many({"id": user, **USERS[user]}, table, at=today())
        return bool(verdict[np.flatnonzero(node.columns.seqs() == seq)[0]])
    finally:
        node.close()


@pytest.mark.parametrize("tamper", COLUMN_TAMPERS, ids=[t.name for t in COLUMN_TAMPERS])
def test_edited_columns_admit_nobody_the_label_does_not(filed: Filed, tamper: Tamper) -> None:
    tamper.edit(filed)
    for user in tamper.newly:  # guard: the columns alone would now let them in
        assert seen_by_columns(filed, user, tamper.item), user
        assert not decide(user, ITEMS[tamper.item]).allow
    target = filed.ids[tamper.item]
    with filed.served() as connect:
        for user in USERS:
            with connect(user) as client:
                assert [i["id"] for i in listed(client)] == [filed.ids[n] for n in allowed(user)]
                response = client.get(f"/api/v1/items/{target}")  # decided on the signed label
                untampered = decide(user, ITEMS[tamper.item])
                if untampered.allow:
                    assert response.status_code == 200, (user, response.text)
                    assert response.json()["content"] == secret(tamper.item)
                else:
                    assert response.status_code == 403, (user, response.text)
                    assert response.json()["reason"] == untampered.reason.value
                    assert response.json()["explanation"] == untampered.explanation


# -- the audit log ------------------------------------------------------------------------


@pytest.fixture
def audited(templates: dict[str, Filed], tmp_path: Path) -> Iterator[Filed]:
    """A copy of the filed node after some reads, refusals and listings: every kind of
    entry."""
    with _copied(templates["audited"], tmp_path) as copy:
        yield copy


def _read_everything(filed: Filed) -> None:
    node = filed.node.open()
    try:
        for user_id in ("jp-k", "ca-s", "us-s"):
            user = node.authenticate(filed.node.tokens[user_id])
            node.list_items(user)
            for item_id in filed.ids.values():
                with contextlib.suppress(gsoia.GsoiaError):
                    node.read_item(user, item_id)
    finally:
        node.close()


def entries(filed: Filed) -> list[Any]:
    node = filed.node.open()
    try:
        with node.engine.connect() as connection:
            return list(connection.execute(select(audit_entries).order_by(audit_entries.c.seq)))
    finally:
        node.close()


def first_of(kind: str) -> Callable[[list[Any]], int]:
    return lambda rows: next(r.seq for r in rows if r.kind == kind)


def _edit_entry(seq: int, /, **values: Any) -> Callable[[Connection], None]:
    return lambda c: c.execute(
        update(audit_entries).where(audit_entries.c.seq == seq).values(**values)
    )


def _body(row: Any, **changes: Any) -> str:
    data = json.loads(row.body) | changes
    return canonical_json(data).decode()


def _relabelled(row: Any) -> str:
    """An item.created entry that now says the item was only HI."""
    data = json.loads(row.body)
    data["data"]["label"]["classification"] = "HI"
    return canonical_json(data).decode()


def _resealed(rows: list[Any], seq: int, body: str, *, resign: bool) -> dict[str, Any]:
    """The edited body with its leaf and root recomputed (and its head signed by a stranger)."""
    leaf = leaf_hash(body.encode())
    tree = CompactRange.from_leaves([bytes(r.leaf) for r in rows[:seq]] + [leaf])
    values: dict[str, Any] = {"body": body, "leaf": leaf, "root": tree.root()}
    if resign:
        values["signature"] = Ed25519PrivateKey.generate().sign(head_message(seq + 1, tree.root()))
    return values


def _swap(rows: list[Any], seq: int) -> Callable[[Connection], None]:
    a, b = rows[seq], rows[seq + 1]
    columns = ("at", "kind", "actor", "body", "leaf", "root", "signature")

    def change(c: Connection) -> None:
        c.execute(_update(seq, {k: getattr(b, k) for k in columns}))
        c.execute(_update(seq + 1, {k: getattr(a, k) for k in columns}))

    return change


def _update(seq: int, values: dict[str, Any]) -> Any:
    return update(audit_entries).where(audit_entries.c.seq == seq).values(**values)


def _append_forged(rows: list[Any], seq: int) -> Callable[[Connection], None]:
    """A new entry at the end, hashed right, signed by a key that is not the node's."""
    body = canonical_json(
        {"seq": seq, "at": rows[-1].at, "kind": "decide", "actor": "ghost", "data": {}}
    ).decode()
    values = _resealed(rows, seq, body, resign=True)
    return lambda c: c.execute(
        insert(audit_entries).values(
            seq=seq, at=rows[-1].at, kind="decide", actor="ghost", **values
        )
    )


@dataclass(frozen=True)
class LogTamper:
    """One edit of the audit log; ``where`` picks the entry it starts at."""

    name: str
    where: Callable[[list[Any]], int]
    edit: Callable[[list[Any], int], Callable[[Connection], None]]


MIDDLE = first_of("item.created")
LOG_TAMPERS = [
    LogTamper(
        "body-data",
        MIDDLE,
        lambda rows, s: _edit_entry(s, body=_relabelled(rows[s])),
    ),
    LogTamper(
        "body-not-canonical",
        MIDDLE,
        lambda rows, s: _edit_entry(s, body=rows[s].body.replace(":", ": ", 1)),
    ),
    LogTamper("kind-column", MIDDLE, lambda rows, s: _edit_entry(s, kind="decide")),
    LogTamper(
        "kind-column-and-body",
        first_of("item.read"),
        lambda rows, s: _edit_entry(
            s, kind="item.refused", body=_body(rows[s], kind="item.refused")
        ),
    ),
    LogTamper("actor-column", first_of("item.read"), lambda rows, s: _edit_entry(s, actor="jp-h")),
    LogTamper(
        "actor-column-and-body",
        first_of("item.read"),
        lambda rows, s: _edit_entry(s, actor="jp-h", body=_body(rows[s], actor="jp-h")),
    ),
    LogTamper(
        "at-column-and-body",
        first_of("item.refused"),
        lambda rows, s: _edit_entry(
            s,
            at="2020-01-01T00:00:00.000000+00:00",
            body=_body(rows[s], at="2020-01-01T00:00:00.000000+00:00"),
        ),
    ),
    LogTamper(
        "body-and-leaf",
        MIDDLE,
        lambda rows, s: _edit_entry(
            s, body=_relabelled(rows[s]), leaf=leaf_hash(_relabelled(rows[s]).encode())
        ),
    ),
    LogTamper(
        "body-leaf-and-root",
        MIDDLE,
        lambda rows, s: _edit_entry(s, **_resealed(rows, s, _relabelled(rows[s]), resign=False)),
    ),
    LogTamper(
        "body-leaf-root-and-a-stranger's-signature",
        MIDDLE,
        lambda rows, s: _edit_entry(s, **_resealed(rows, s, _relabelled(rows[s]), resign=True)),
    ),
    LogTamper(
        "row-deleted",
        first_of("item.refused"),
        lambda rows, s: lambda c: c.execute(delete(audit_entries).where(audit_entries.c.seq == s)),
    ),
    LogTamper(
        "first-row-deleted",
        lambda rows: 0,
        lambda rows, s: lambda c: c.execute(delete(audit_entries).where(audit_entries.c.seq == s)),
    ),
    LogTamper(
        "row-renumbered",
        MIDDLE,
        lambda rows, s: _edit_entry(s, seq=len(rows) + 10),
    ),
    LogTamper("two-rows-swapped", first_of("item.read"), _swap),
    LogTamper(
        "signature-bit",
        MIDDLE,
        lambda rows, s: _edit_entry(s, signature=_flip(bytes(rows[s].signature), 17)),
    ),
    LogTamper(
        "last-signature-bit",
        lambda rows: len(rows) - 1,
        lambda rows, s: _edit_entry(s, signature=_flip(bytes(rows[s].signature), 63)),
    ),
    LogTamper(
        "root-replaced",
        MIDDLE,
        lambda rows, s: _edit_entry(s, root=bytes(rows[s - 1].root)),
    ),
    LogTamper(
        "leaf-replaced",
        lambda rows: 0,
        lambda rows, s: _edit_entry(s, leaf=_flip(bytes(rows[s].leaf), 31)),
    ),
    LogTamper("forged-entry-appended", lambda rows: len(rows), _append_forged),
]


def cli_verify(filed: Filed, *, process: bool = False) -> subprocess.CompletedProcess[str]:
    """``gsoia audit verify`` on the node: the command run in this process (Typer's runner),
    or with ``process`` the installed script (its exit status and streams as a shell sees
    them; a few tests keep it)."""
    args = ["audit", "verify", "--data", str(filed.node.data)]
    if filed.node.database.url:
        args += ["--database", filed.node.database.url]
    if not process:
        return run_in_process(*args)
    return subprocess.run([GSOIA, *args], capture_output=True, text=True, timeout=120, check=False)


def test_an_untampered_log_verifies(audited: Filed) -> None:
    rows = entries(audited)
    node = audited.node.open()
    try:
        head = node.verify_audit()
    finally:
        node.close()
    assert head is not None
    assert head.size == len(rows) > 20
    assert head.root == bytes(rows[-1].root)
    result = cli_verify(audited, process=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"audit log: {len(rows)} entries verified; root {head.root.hex()} ({rows[-1].at})\n"
        f"anchor: holds the head of {len(rows)} entries ({rows[-1].at}), consistent\n"
    )


def first_bad_entry(filed: Filed) -> tuple[int, str]:
    """``Node.verify_audit``'s AuditVerifyError: the entry it names, and its message."""
    node = filed.node.open(anchored=False)
    try:
        try:
            node.verify_audit()
        except AuditVerifyError as e:
            found = (e.seq, str(e))
        else:
            pytest.fail("the edited audit log verified")
    finally:
        node.close()
    return found


@pytest.mark.parametrize("tamper", LOG_TAMPERS, ids=[t.name for t in LOG_TAMPERS])
def test_an_edited_log_fails_at_the_first_bad_entry(audited: Filed, tamper: LogTamper) -> None:
    rows = entries(audited)
    seq = tamper.where(rows)
    assert 0 <= seq <= len(rows)
    audited.edit(tamper.edit(rows, seq))
    failed_at, message = first_bad_entry(audited)
    assert failed_at == seq, message
    result = cli_verify(audited)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    naming = [line for line in lines if "audit entry" in line]
    assert naming == [lines[-1]], result.stderr  # one line, the last, names the entry
    assert naming[0].startswith(f"gsoia: audit entry {seq}: "), naming[0]
    for line in lines[:-1]:  # anything else is progress
        assert line.strip().endswith("entries…"), line


def test_a_failed_verification_closes_its_cursor(audited: Filed) -> None:
    audited.edit(_edit_entry(3, kind="decide"))
    node = audited.node.open()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.suppress(AuditVerifyError):
                node.verify_audit()
            gc.collect()
    finally:
        node.close()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_truncated_tail_is_found_by_the_anchor(audited: Filed) -> None:
    """Dropping the newest entries leaves a log whose every entry verifies; the head kept
    in the data directory shows it is shorter than it was."""
    node = audited.node.open()
    try:
        before = node.verify_audit()
    finally:
        node.close()
    assert before is not None
    cut = before.size - 3
    audited.edit(lambda c: c.execute(delete(audit_entries).where(audit_entries.c.seq >= cut)))
    with pytest.raises(AuditVerifyError, match=f"entries {cut} to {before.size - 1} are missing"):
        audited.node.open()  # the node does not open on a shortened log
    failed_at, message = first_bad_entry(audited)
    assert failed_at == cut, message
    assert "audit-head.json" in message
    result = cli_verify(audited)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.splitlines()[-1].startswith(
        f"gsoia: audit entry {cut}: entries {cut} to {before.size - 1} are missing"
    ), result.stderr


def test_an_emptied_log_is_found_by_the_anchor(audited: Filed) -> None:
    audited.edit(lambda c: c.execute(delete(audit_entries)))
    with pytest.raises(AuditVerifyError, match="entries 0 to"):
        audited.node.open()
    result = cli_verify(audited)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "empty, verified" not in result.stdout
    assert result.stderr.splitlines()[-1].startswith("gsoia: audit entry 0: entries 0 to")


def test_without_its_anchor_a_truncated_log_verifies_only_against_an_earlier_head(
    audited: Filed,
) -> None:
    """Known limit of one data directory: whoever deletes the anchor file as well as the
    newest entries leaves a valid shorter log. Only a head seen outside the node (a
    partner's) shows the truncation then; ``gsoia audit verify`` says the log is unpinned."""
    node = audited.node.open()
    try:
        before = node.verify_audit()
    finally:
        node.close()
    assert before is not None
    (audited.node.data / "audit-head.json").unlink()
    audited.edit(
        lambda c: c.execute(delete(audit_entries).where(audit_entries.c.seq == before.size - 1))
    )
    node = audited.node.open()
    try:
        after = node.verify_audit()
    finally:
        node.close()
    assert after is not None
    assert after.size == before.size - 1
    result = cli_verify(audited)
    assert result.returncode == 0, result.stderr
    assert "anchor: none in the data directory" in result.stdout


def test_the_middle_of_the_log_deleted_is_named(audited: Filed) -> None:
    """Entries deleted in the middle of the log, the newest kept: the log is as long as its
    anchor and ends with the root the anchor signed, so the node opens (it checks only
    that at start); verifying the log names the missing range."""
    rows = entries(audited)
    first = MIDDLE(rows)
    last = first + 4
    assert last < len(rows) - 1
    audited.edit(
        lambda c: c.execute(delete(audit_entries).where(audit_entries.c.seq.between(first, last)))
    )
    missing = f"entries {first} to {last} are missing (the next stored entry is {last + 1})"
    failed_at, message = first_bad_entry(audited)
    assert (failed_at, message) == (first, f"audit entry {first}: {missing}")
    result = cli_verify(audited, process=True)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"gsoia: audit entry {first}: {missing}"
