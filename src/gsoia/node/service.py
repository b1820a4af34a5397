"""The node's use cases: create, list, read, consent, report an incident, decide, audit.

Every use case decides from the catalogue (``gsoia.decision``), touches the store in one
transaction, and writes its audit entry in that same transaction — the action and its
entry commit together or not at all. Refusals are audited too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import numpy as np
from sqlalchemy import (
    BigInteger,
    Connection,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import Label as Labelled

from gsoia.audit.anchor import ANCHOR_FILE, Anchor, check_anchor, check_anchor_quickly
from gsoia.audit.log import AuditLog, AuditTransaction, TreeHead, verify_log
from gsoia.catalogue.load import read_catalogue
from gsoia.catalogue.matrix import status_table
from gsoia.crypto import aead
from gsoia.crypto.canonical import MAX_SAFE_INTEGER, canonical_json
from gsoia.crypto.errors import BadSignature, DecryptionFailed
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import binding_message, digest, sign, verify
from gsoia.decision import Decision, Rulebook
from gsoia.decision.labels import LabelTable, encode_label
from gsoia.decision.request import HeldLabel, Label, Subject, label_problems, parse_held_label
from gsoia.errors import GsoiaError, Problem, RequestError
from gsoia.node.accounts import Accounts
from gsoia.node.authority import (
    OPERATOR,
    Action,
    Actor,
    Authority,
    Copy,
    Target,
    Verdict,
    entry_item,
    withheld,
    without_search,
)
from gsoia.node.columns import EncodedLabel, LabelColumns, from_bits, to_bits
from gsoia.node.config import KEYS_DIR, ConfigError, NodeConfig, private_directory
from gsoia.node.errors import (
    Denied,
    IntegrityFailure,
    NodeError,
    NotFound,
)
from gsoia.node.floods import Floods, Refusal
from gsoia.node.metrics import Metrics
from gsoia.node.origin import make_seal, origin_fields
from gsoia.node.recent import Recent
from gsoia.node.sessions import WebSessions
from gsoia.node.users import SIGNED_IN_FOR as SIGNED_IN_FOR
from gsoia.node.users import Role, User
from gsoia.store.database import migrate, open_engine, peeking, reading, writing
from gsoia.store.postgres import compiled, driver_rows, insert_one
from gsoia.store.schema import audit_entries, consents, incidents, items, meta, relabels, topics

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction as _Tx
    from gsoia.node.exchange import Exchange

MAX_PAGE = 1000
ANONYMOUS = "anonymous"
"""The actor of a refused request without good credentials."""
MAX_CURSOR = MAX_SAFE_INTEGER
"""The largest cursor (an item seq) a listing takes: what JSON, and so the audit log, carry."""
_INSERT_ITEMS = insert(items).returning(items.c.seq, sort_by_parameter_order=True)
MAX_TITLE = 1000
MAX_CONTENT = 8 * 1024 * 1024
INCIDENT_KINDS = ("loss", "compromise", "possible_loss", "possible_compromise")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def catalogue_fingerprint(rulebook: Rulebook) -> str:
    return hashlib.sha256(canonical_json(rulebook.catalogue.model_dump(mode="json"))).hexdigest()


@dataclass(frozen=True)
class Draft:
    """A new item, checked and decided, not yet stored."""

    label: HeldLabel
    title: str
    content: bytes
    decision: Decision


@dataclass(frozen=True)
class ListFilter:
    area: str | None = None
    originator: str | None = None
    level: str | None = None
    q: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


class Node:
    """One nation's node: its keys, its store, its catalogue and its audit log."""

    def __init__(
        self,
        config: NodeConfig,
        keys: NodeKeys,
        rulebook: Rulebook,
        database: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        today: dt.date | None = None,
    ) -> None:
        self.config = config
        self.today_override = today
        """A fixed date for every decision (exercises and demos); None: today, UTC."""
        self.nation = config.nation
        self.keys = keys
        self.public = keys.public()
        self.rulebook = rulebook
        self.clock = clock
        self.engine = open_engine(database or config.database)
        migrate(self.engine)
        self._check_meta()
        self.audit = AuditLog(self.engine, keys.signing, clock)
        self.metrics = Metrics()
        self.floods = Floods()
        """This process's counts and budgets of unauthenticated refusals, by source."""
        self._relabelled = 0
        """The last change of a label (``relabels``) the columns hold."""
        self.columns = self._load_columns()
        # Items are stored under the audit log's lock: when another worker appended to the
        # log since, its items come first (before this worker's next ones, in seq order).
        self.audit.on_others = self.refresh
        self._listings: Recent[Hashable, tuple[np.ndarray[Any, np.dtype[np.bool_]], int]]
        self._listings = Recent(32)  # the rows a user may see, per filter and columns version
        self._intact_rows: Recent[bytes, tuple[Any, ...]] = Recent(100_000)
        """The signed columns of rows found intact, by their signature (``intact``)."""
        self._rulings: Recent[tuple[Any, ...], _Ruling] = Recent(20_000)
        """The decisions of listed rows, by subject, day and the columns decided on."""
        self._postgres = self.engine.dialect.name == "postgresql"
        self._verified_rows: Recent[tuple[int, int], _Listed] = Recent(20_000)
        """PostgreSQL: listed rows found intact, by seq and row version (``_page_rows``)."""
        self._listed_json: Recent[tuple[int, int, int], msgspec.Raw] = Recent(20_000)
        """PostgreSQL: listed views as JSON, by seq, row version and ruling (``encoded``)."""
        self._ruling_serials = itertools.count(1)  # a ruling's number, never reused
        self.keys_dir: Path | None = None
        """Where the key files are (set by ``open``/``init``; key rotation needs it)."""

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        data: Path,
        nation: str,
        *,
        database: str | None = None,
        catalogue: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> Node:
        """Create a node in ``data``: configuration, keys (mode 0600), database."""
        rulebook = Rulebook(read_catalogue(catalogue), today=lambda: clock().date())
        if nation not in rulebook.catalogue.policies:
            raise ConfigError(f"--nation: '{nation}' is not a policy of the catalogue")
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        if (data / "node.json").exists():
            raise ConfigError(f"{data}: already a gsoia node")
        private_directory(data)
        keys = NodeKeys.generate()
        keys.save(data / KEYS_DIR)
        config = NodeConfig(
            nation=nation,
            database=database or NodeConfig.default_database(data),
            catalogue=str(Path(catalogue).resolve()) if catalogue else None,
        )
        config.save(data)
        node = cls(config, keys, rulebook, clock=clock)
        node.keys_dir = data / KEYS_DIR
        node.audit.anchor = Anchor(data / ANCHOR_FILE)
        return node

    @classmethod
    def open(
        cls,
        data: Path,
        *,
        database: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        today: dt.date | None = None,
        anchored: bool = True,
    ) -> Node:
        """Open the node in ``data``; refuses world-readable key files, and tightens the
        data directory to 0700 (and a SQLite database to 0600: ``open_engine``).

        ``anchored``: refuse (``AuditVerifyError``) a log shorter than the head kept in the
        data directory, or not ending as it did there (``audit.anchor``); False only to
        verify the log (``verify_audit`` then names what is missing or altered)."""
        config = NodeConfig.load(data)
        private_directory(data)
        from gsoia.node.rotation import settle_at

        settle_at(data / KEYS_DIR, database or config.database)  # a rotation cut short
        keys = NodeKeys.load(data / KEYS_DIR)
        rulebook = Rulebook(read_catalogue(config.catalogue), today=lambda: today or clock().date())
        node = cls(config, keys, rulebook, database=database, clock=clock, today=today)
        node.keys_dir = data / KEYS_DIR
        anchor = Anchor(data / ANCHOR_FILE)
        try:
            held = anchor.read() if anchored else None
            if held is not None:
                check_anchor_quickly(
                    held, *node.audit.store.size_and_root_at(held.size - 1), anchor.path
                )
        except GsoiaError:
            node.close()
            raise
        node.audit.anchor = anchor
        return node

    def _check_meta(self) -> None:
        with writing(self.engine) as connection:
            rows = connection.execute(select(meta.c.name, meta.c.value))
            stored: dict[str, str] = {name: value for name, value in rows}  # noqa: C416
            if not stored:
                connection.execute(
                    insert(meta),
                    [
                        {"name": "nation", "value": self.nation},
                        {"name": "signing_key", "value": self.public.signing.hex()},
                    ],
                )
                return
        if stored.get("nation") != self.nation:
            raise ConfigError(
                f"the database belongs to a node of {stored.get('nation')}, not {self.nation}"
            )
        if stored.get("signing_key") != self.public.signing.hex():
            raise ConfigError("the database was signed with another key than this node's")

    def _load_columns(self) -> LabelColumns:
        """The encoded labels of every item, re-encoded if the catalogue changed."""
        fingerprint = catalogue_fingerprint(self.rulebook)
        with writing(self.engine) as connection:
            registered = connection.execute(select(topics.c.topic).order_by(topics.c.bit))
            columns = LabelColumns(self.rulebook.codes, list(registered.scalars()))
            stored = connection.execute(
                select(meta.c.value).where(meta.c.name == "catalogue")
            ).scalar()
            if stored != fingerprint:
                self._reencode(connection, columns)
                if stored is None:
                    connection.execute(insert(meta).values(name="catalogue", value=fingerprint))
                else:
                    connection.execute(
                        update(meta).where(meta.c.name == "catalogue").values(value=fingerprint)
                    )
            # the last relabel before the items: each statement reads a snapshot of its own
            # on PostgreSQL, and a relabel committed in between is then taken in again by
            # ``refresh`` (after the items, it would be missed until the item changed again)
            self._relabelled = connection.execute(select(func.max(relabels.c.id))).scalar() or 0
            rows = connection.execute(
                select(
                    items.c.seq,
                    items.c.label_key,
                    items.c.custodian_code,
                    items.c.open_bits,
                    items.c.need_bits,
                ).order_by(items.c.seq)
            )
            columns.append(
                [
                    EncodedLabel(seq, key, custodian, from_bits(open_), from_bits(need))
                    for seq, key, custodian, open_, need in rows
                ]
            )
        return columns

    def _reencode(self, connection: Connection, columns: LabelColumns) -> None:
        topic_bit = {t: i for i, t in enumerate(columns.topics)}
        for row in connection.execute(select(items)).all():
            encoded = self._encode(_held_label(row), topic_bit)
            connection.execute(
                update(items).where(items.c.seq == row.seq).values(**_encoded_columns(encoded))
            )
        self._register_topics(connection, len(columns.topics), topic_bit)

    def _register_topics(
        self, connection: Connection, registered: int, topic_bit: dict[str, int]
    ) -> list[str]:
        """Store the topics given bits from ``registered`` on; returns them in bit order."""
        new = sorted(t for t, bit in topic_bit.items() if bit >= registered)
        new.sort(key=topic_bit.__getitem__)
        if new:
            connection.execute(insert(topics), [{"topic": t, "bit": topic_bit[t]} for t in new])
        return new

    def _encode(self, label: HeldLabel, topic_bit: dict[str, int]) -> tuple[int, int, int, int]:
        return encode_label(self.rulebook.codes, label, topic_bit)

    # -- users --------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        nation: str,
        *,
        clearance: str | None = None,
        clearance_expires: dt.date | None = None,
        need_to_know: list[str] | None = None,
        role: Role = Role.ANALYST,
    ) -> tuple[User, str]:
        """Register a user as the operator; returns the user and its API token (shown once,
        stored hashed). ``accounts`` does the rest of what can be done to accounts."""
        record, token = self.accounts.add(
            OPERATOR,
            user_id,
            nation,
            clearance=clearance,
            clearance_expires=clearance_expires,
            need_to_know=need_to_know or (),
            role=role,
        )
        return record.user, token

    def authenticate(self, token: str, user_id: str | None = None) -> User:
        """The enabled user holding ``token`` (and, for HTTP Basic, named ``user_id``);
        trusted for ``SIGNED_IN_FOR`` seconds once found (``Accounts.authenticate``)."""
        return self.accounts.authenticate(token, user_id)

    @cached_property
    def accounts(self) -> Accounts:
        """The node's user accounts and every change to them (``gsoia.node.accounts``)."""
        return Accounts(self)

    @cached_property
    def sessions(self) -> WebSessions:
        """The web pages' sessions, kept in the store (``gsoia.node.sessions``)."""
        return WebSessions(self)

    # -- decisions ------------------------------------------------------------------------

    def today(self) -> dt.date:
        return self.today_override or self.clock().date()

    @cached_property
    def authority(self) -> Authority:
        """Who may do what on this node (``gsoia.node.authority``)."""
        return Authority(self.rulebook, self.nation)

    def require(self, actor: Actor, action: Action, target: Target | None = None) -> Verdict:
        """The authority's verdict on ``actor`` doing ``action`` today; its refusal raised."""
        return self.authority.decide(actor, action, target or Target(), self.today()).check()

    @cached_property
    def exchange(self) -> Exchange:
        """Federation: releases, receipts, consents and notices with partner nodes."""
        from gsoia.node.exchange import Exchange

        return Exchange(self)

    def decide_row(
        self, user: User, row: Any, subject: Subject | None = None, *, counted: bool = True
    ) -> Decision:
        decision = self.rulebook.decide_parsed(
            subject or user.subject(),
            _label(row),
            custodian=row.custodian,
            consented_to=_json_list(row.consented_to),
            at=self.today(),
        )
        if counted:
            self.metrics.decisions.labels(decision.reason.value).inc()
        return decision

    def decide(self, user: User, request: Mapping[str, Any]) -> Decision:
        """A decision for any request (the decide endpoint); audited."""
        decision = self.rulebook.decide(request)
        self.metrics.decisions.labels(decision.reason.value).inc()
        self.audit.record(
            "decide",
            user.id,
            {"allow": decision.allow, "reason": decision.reason.value, "rule": decision.rule},
        )
        return decision

    def refuse(self, actor: str, action: str, reason: str, *, source: str | None = None) -> None:
        """Write a refused request to the audit log (nothing else is stored).

        A request without good credentials (``actor`` ``ANONYMOUS``) from the client address
        ``source`` is counted instead, at most one entry per source a minute
        (``count_refusal``)."""
        data = {"action": action, "reason": reason[:500]}
        if actor == ANONYMOUS and source is not None:
            self.count_refusal(source, Refusal("refused", actor, data))
        else:
            self.audit.record("refused", actor, data)

    def count_refusal(self, source: str, refusal: Refusal, *, spend: bool = True) -> None:
        """Count a refusal of an unauthenticated request from ``source``; write the source's
        entry if its window allows (``gsoia.node.floods``). ``spend``: it spends the
        source's budget (a 429 does not)."""
        for tally in self.floods.refused(source, refusal, spend=spend):
            self.audit.record(*tally.entry())

    def flush_refusals(self, *, everything: bool = False) -> int:
        """Write the counted refusals whose window is over (``everything``: all of them, as
        the server stops), together; how many entries."""
        tallies = self.floods.drain() if everything else self.floods.due()
        if tallies:
            self.audit.batched(
                lambda tx: [tx.append(*tally.entry()) for tally in tallies], isolated=False
            )
        return len(tallies)

    # -- items ----------------------------------------------------------------------------

    def create_item(
        self, user: User, label_data: Any, title: str, content: bytes
    ) -> dict[str, Any]:
        """Store a new item of this node's nation: encrypted, signed, audited."""
        return self.store_items(user, [self.prepare_item(user, label_data, title, content)])[0]

    def prepare_item(
        self,
        user: User,
        label_data: Any,
        title: str,
        content: bytes,
        place: str = "label",
        *,
        decided: dict[str, Draft] | None = None,
    ) -> Draft:
        """Check a new item before it is stored: ``RequestError``, ``Forbidden`` or ``Denied``.

        ``decided``: for a batch of one user's items (a TAXII envelope), the labels checked
        and decided so far, by their JSON; an item with one of them has only its title and
        content checked. (A label refused is not kept: checked again, named at its place.)
        """
        self.require(user, Action.CREATE)
        key = None if decided is None else json.dumps(label_data, sort_keys=True)
        known = None if key is None or decided is None else decided.get(key)
        if known is not None:
            problems = _item_problems(title, content)
            if problems:
                raise RequestError(problems)
            return Draft(known.label, title, content, known.decision)
        label = parse_held_label(label_data, place)
        extra = {"custodian", "consented_to"} & set(label)
        if extra:
            raise RequestError.of(
                f"{place}.{sorted(extra)[0]}", "set by the node, not by the label"
            )
        problems = label_problems(self.rulebook.catalogue, label, place, None, [], f"{place}.")
        if label["originator"] != self.nation:
            problems.append(
                Problem(f"{place}.originator", f"must be this node's nation {self.nation}")
            )
        problems += _item_problems(
            title,
            content,
            **{f"{place}.area": label.get("area") or ""},
            **{f"{place}.need_to_know": "".join(label.get("need_to_know", []))},
        )
        if problems:
            raise RequestError(problems)
        label = _normal(label)
        # nobody files what they could not read
        new = Copy("", label, self.nation)
        verdict = self.require(user, Action.CREATE, Target(copy=new))
        assert verdict.decision is not None  # INVARIANT: decided on the label given
        draft = Draft(label, title, content, verdict.decision)
        if key is not None and decided is not None:
            decided[key] = draft
        return draft

    def store_items(
        self,
        user: User,
        drafts: Sequence[Draft],
        on_stored: Callable[[AuditTransaction, list[tuple[str, int]]], None] | None = None,
        *,
        views: bool = True,
    ) -> list[dict[str, Any]]:
        """Encrypt, sign and store prepared items in one transaction, one audit entry each.

        ``on_stored(transaction, [(item id, seq), ...])`` runs inside that transaction, for
        callers that keep (and audit) more about the items (TAXII: the STIX metadata and its
        ``taxii.added`` entry). Returns the
        items as shown to their creator (none with ``views=False``).
        """
        prepared = []
        for draft in drafts:
            item_id = str(uuid.uuid4())
            content_key = aead.new_key()
            ciphertext = aead.encrypt(content_key, draft.content, aad=item_id.encode())
            label = draft.label
            row: dict[str, Any] = {
                "id": item_id,
                "title": draft.title,
                "originator": label["originator"],
                "classification": label["classification"],
                "area": label.get("area"),
                "releasable_to": json.dumps(label.get("releasable_to", [])),
                "need_to_know": json.dumps(label.get("need_to_know", [])),
                "custodian": self.nation,
                "consented_to": "[]",
                "created_at": self.audit.now(),
                "created_by": user.id,
            }
            content_digest = digest(ciphertext)
            stored = row | {
                "ciphertext": ciphertext,
                "wrapped_key": aead.wrap_key(
                    self.keys.storage, content_key, context=item_id.encode()
                ),
                "content_digest": content_digest,
                "signature": sign(
                    self.keys.signing, binding_message(bound_fields(row), content_digest)
                ),
                # the originator's seal: travels unchanged with every copy (gsoia.node.origin)
                "origin_seal": make_seal(self.keys.signing, origin_fields(row), draft.content),
            }
            prepared.append((draft, row, stored))

        def store(tx: AuditTransaction) -> list[dict[str, Any]]:
            appended: list[EncodedLabel] = []
            topic_bit, registered = self._topic_bits(tx.connection, [d.label for d in drafts])
            encodings = [self._encode(draft.label, topic_bit) for draft, _, _ in prepared]
            seqs = self._inserted(
                tx.connection,
                [
                    stored | _encoded_columns(encoded)
                    for (_, _, stored), encoded in zip(prepared, encodings, strict=True)
                ],
            )
            stored_ids = []
            for (draft, row, stored), encoded, seq in zip(prepared, encodings, seqs, strict=True):
                appended.append(EncodedLabel(seq, *encoded))
                stored_ids.append((row["id"], seq))
                tx.append(
                    "item.created",
                    user.id,
                    {
                        "item": row["id"],
                        "label": dict(draft.label),
                        "content_sha384": stored["content_digest"].hex(),
                    },
                )
            new_topics = self._register_topics(tx.connection, registered, topic_bit)
            if on_stored is not None:
                on_stored(tx, stored_ids)

            def publish() -> None:
                self.columns.add_topics(new_topics)
                self.columns.append(appended)
                for _, _, stored in prepared:  # signed here, just now: intact as written
                    self._intact_rows.put(stored["signature"], _signed_columns(_Row(stored)))

            tx.on_commit(publish)
            if not views:
                return []
            return [self._view(row, draft.decision) for draft, row, _ in prepared]

        # Concurrent creations share one transaction and one commit (``AuditLog.batched``);
        # ``store`` acts only through the transaction (``on_stored`` too), so a batch of them
        # needs no savepoints unless one fails.
        return self.audit.batched(store, rerunnable=True)

    def _inserted(self, connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert item rows in one statement; their seqs, in the order of the rows.

        On PostgreSQL a single row (a creation through the API) goes through psycopg's
        cursor, its statement compiled once (``store.postgres.insert_one``).
        """
        if self._postgres and len(rows) == 1:
            (row,) = rows
            return [seq for (seq,) in driver_rows(connection, insert_one(items, tuple(row)), row)]
        return list(connection.execute(_INSERT_ITEMS, rows).scalars())

    def _topic_bits(
        self, connection: Connection, labels: Sequence[HeldLabel]
    ) -> tuple[dict[str, int], int]:
        """The bit of each registered topic, and how many are registered, in this transaction.

        The columns know every topic committed; a topic they lack may have been registered
        earlier in this very transaction (a batch): then the store is asked.
        """
        topic_bit = {t: i for i, t in enumerate(self.columns.topics)}
        if all(t in topic_bit for label in labels for t in label.get("need_to_know", [])):
            return topic_bit, len(topic_bit)
        rows = connection.execute(select(topics.c.topic, topics.c.bit).order_by(topics.c.bit))
        topic_bit = {topic: bit for topic, bit in rows}  # noqa: C416
        return topic_bit, len(topic_bit)

    def store_received(
        self,
        tx: _Tx,
        item: dict[str, Any],
        content: bytes,
        *,
        sender: str,
        package_id: str,
        marking: str,
        origin_seal: bytes | None = None,
    ) -> EncodedLabel:
        """Store an item received from a partner, with this node as custodian (federation).

        The content is encrypted afresh under this node's keys; the original label is kept
        as the originator wrote it, the custodian's own marking next to it, and the
        originator's seal (checked by the caller) with it, to pass on.
        """
        item_id = str(item["id"])
        content_key = aead.new_key()
        ciphertext = aead.encrypt(content_key, content, aad=item_id.encode())
        row: dict[str, Any] = {
            "id": item_id,
            "title": item["title"],
            "originator": item["originator"],
            "classification": item["classification"],
            "area": item["area"],
            "releasable_to": json.dumps(item["releasable_to"]),
            "need_to_know": json.dumps(item["need_to_know"]),
            "custodian": self.nation,
            "consented_to": "[]",
            "created_at": item["created_at"],
            "created_by": item["created_by"],
        }
        content_digest = digest(ciphertext)
        label = _held_label(_Row(row))
        topic_bit, registered = self._topic_bits(tx.connection, [label])
        encoded = self._encode(label, topic_bit)
        new_topics = self._register_topics(tx.connection, registered, topic_bit)
        seq = tx.connection.execute(  # a constant statement: compiled once, not per item
            _INSERT_ITEMS,
            row
            | {
                "ciphertext": ciphertext,
                "wrapped_key": aead.wrap_key(
                    self.keys.storage, content_key, context=item_id.encode()
                ),
                "content_digest": content_digest,
                "signature": sign(
                    self.keys.signing, binding_message(bound_fields(row), content_digest)
                ),
                "sender": sender,
                "package_id": package_id,
                "custodian_marking": marking,
                "grants": "[]",
                "origin_seal": origin_seal,
            }
            | _encoded_columns(encoded),
        ).scalar_one()
        stored = EncodedLabel(int(seq), *encoded)

        def publish() -> None:
            self.columns.add_topics(new_topics)
            self.columns.append([stored])

        tx.on_commit(publish)
        return stored

    def list_items(
        self,
        user: User,
        filters: ListFilter = ListFilter(),
        *,
        cursor: int = 0,
        limit: int = 100,
        encoded: bool = False,
    ) -> dict[str, Any]:
        """The items ``user`` may see, ``limit`` at a time after ``cursor`` (a seq).

        ``encoded``: items may be given as their JSON already (``msgspec.Raw``), for a
        caller that encodes the answer with msgspec: on PostgreSQL a row's view is kept by
        row version and ruling, and a page of known rows is put together, not encoded anew.
        """
        self.require(user, Action.LIST)
        limit = max(1, min(limit, MAX_PAGE))
        if not 0 <= cursor <= MAX_CURSOR:
            raise RequestError([Problem("cursor", f"a whole number from 0 to {MAX_CURSOR}")])
        problems = _nul_problems(**{f"query.{k}": v for k, v in filters.to_dict().items()})
        if problems:
            raise RequestError(problems)
        with peeking(self.engine) as connection:  # the page's rows are checked one by one
            self.refresh(connection)
            table, seqs, version = self.columns.snapshot()
            allowed, total = self._allowed(user, filters, connection, table, seqs, version)
            start = int(np.searchsorted(seqs, cursor, side="right"))
            page_seqs = _first_allowed(allowed, seqs, start, limit + 1)
            more = len(page_seqs) > limit
            page_seqs = page_seqs[:limit]
            rows = self._page_rows(connection, page_seqs)
        views: list[dict[str, Any] | msgspec.Raw] = []
        flagged = []
        subject = user.subject()
        who = (*_subject_key(user), self.today())
        reasons: Counter[str] = Counter()
        for row, row_version in rows:
            # The page is confirmed one by one on verified labels: a column edited
            # behind the node's back shows nothing it should not.
            if row_version is None:
                flagged.append(row.id)
                continue
            key = (who, *_decided_columns(row))
            ruled = self._rulings.get(key)
            if ruled is None:  # a label not seen lately by this subject on this day
                decision = self.decide_row(user, row, subject, counted=False)
                ruled = _Ruling(
                    decision,
                    dict(_label(row)),
                    _decision_view(decision),
                    next(self._ruling_serials),
                )
                self._rulings.put(key, ruled)
            reasons[ruled.decision.reason.value] += 1
            if not ruled.decision.allow:
                continue
            if encoded and row_version:  # a row version of PostgreSQL's
                known = (row.seq, row_version, ruled.serial)
                view = self._listed_json.get(known)
                if view is None:
                    view = msgspec.Raw(msgspec.json.encode(_listed_view(row, ruled)))
                    self._listed_json.put(known, view)
                views.append(view)
            else:
                views.append(_listed_view(row, ruled))
        for reason, count in reasons.items():
            self.metrics.decisions.labels(reason).inc(count)

        def audited(tx: AuditTransaction) -> None:
            for item_id in flagged:
                tx.append("integrity", user.id, {"item": item_id, "where": "list"})
            tx.append(
                "items.listed",
                user.id,
                {"filter": filters.to_dict(), "cursor": cursor, "returned": len(views)},
            )

        self.audit.batched(audited, isolated=False)
        return {
            "items": views,
            "total": total,
            "next": str(page_seqs[-1]) if more and page_seqs else None,
        }

    def _page_rows(
        self, connection: Connection, seqs: list[int]
    ) -> list[tuple[_Listed, int | None]]:
        """The rows of a page in seq order, each with its version if it is intact
        (``intact``; 0 on SQLite) and None if it is not.

        On PostgreSQL the page first reads each row's version (``xmin``, the transaction
        that wrote it: any UPDATE, by the node or behind its back, makes a new one); a row
        found intact in the same version is not read or checked again. The others are read
        with their version and checked.
        """
        if not self._postgres:
            page = connection.execute(_PAGE, {"seqs": seqs}).all()
            return [(row, 0 if self.intact(row) else None) for row in map(_Listed._make, page)]
        versions = driver_rows(connection, _PAGE_VERSIONS_PG, {"seqs": seqs})
        known = {
            seq: (self._verified_rows.get((seq, version)), version) for seq, version in versions
        }
        missing = [seq for seq, (row, _) in known.items() if row is None]
        checked: dict[int, tuple[_Listed, int | None]] = {}
        if missing:
            for *columns, version in connection.execute(_PAGE_VERSIONED, {"seqs": missing}):
                row = _Listed._make(columns)
                intact = self.intact(row)
                if intact:
                    self._verified_rows.put((row.seq, version), row)
                checked[row.seq] = (row, version if intact else None)
        return [
            (row, version) if row is not None else checked[seq]
            for seq, (row, version) in known.items()
            if row is not None or seq in checked
        ]

    def _allowed(
        self,
        user: User,
        filters: ListFilter,
        connection: Connection,
        table: LabelTable,
        seqs: np.ndarray[Any, np.dtype[np.int64]],
        version: int,
    ) -> tuple[np.ndarray[Any, np.dtype[np.bool_]], int]:
        """Which rows of the table ``user`` may see under ``filters``, and how many.

        Kept for the next pages: a walk through the pages decides once, until the
        columns change (``version``) or the day does.
        """
        day = self.today()
        key = (_subject_key(user), tuple(sorted(filters.to_dict().items())), day, version)
        cached = self._listings.get(key)
        if cached is not None:
            return cached
        allowed = self.rulebook.decide_many(user.subject(), table, at=day)
        if filters.to_dict():
            allowed &= self._filter_mask(connection, filters, table.key, seqs)
        found = (allowed, int(allowed.sum()))
        self._listings.put(key, found)
        return found

    def _filter_mask(
        self,
        connection: Connection,
        filters: ListFilter,
        keys: np.ndarray[Any, Any],
        seqs: np.ndarray[Any, np.dtype[np.int64]],
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        codes = self.rulebook.codes
        wanted = np.ones(codes.keys, dtype=np.bool_)
        areas = len(codes.areas)
        for key in range(codes.keys):
            policy_code, rank = codes.level_of[key // areas]
            policy = codes.policies[policy_code]
            if (filters.originator is not None and policy != filters.originator) or (
                filters.level is not None
                and self.rulebook.catalogue.policies[policy].levels[rank].id != filters.level
            ):
                wanted[key] = False
        mask = np.take(wanted, keys)
        if filters.area is not None:
            # an area no scope names shares code 0 with other such areas: compare text
            area_code = codes.area_code.get(filters.area)
            mask &= np.isin(seqs, self._seqs_where(connection, area=filters.area))
            if area_code is not None and area_code != 0:
                mask &= (keys % areas) == area_code
        if filters.q:
            mask &= np.isin(seqs, self._seqs_where(connection, q=filters.q))
        return mask

    def _seqs_where(
        self, connection: Connection, *, area: str | None = None, q: str | None = None
    ) -> np.ndarray[Any, np.dtype[np.int64]]:
        query = select(items.c.seq)
        if area is not None:
            query = query.where(items.c.area == area)
        if q is not None:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            if connection.dialect.name == "sqlite":  # SQLite's lower() knows only ASCII
                pattern = f"%{escaped.casefold()}%"
                query = query.where(func.casefold(items.c.title).like(pattern, escape="\\"))
            else:
                query = query.where(items.c.title.ilike(f"%{escaped}%", escape="\\"))
        return np.fromiter(connection.execute(query).scalars(), dtype=np.int64)

    def refresh(self, connection: Connection) -> None:
        """Take in what other workers stored or relabelled since this one last looked.

        New items are those past the last seq held (items are stored under the audit log's
        lock, so in seq order); relabelled ones are numbered in ``relabels``.
        """
        after = {"last": self.columns.last_seq(), "relabelled": self._relabelled}
        rows: Sequence[Any]
        if self._postgres:
            rows = list(map(_Changed._make, driver_rows(connection, _CHANGED_AFTER_PG, after)))
        else:
            rows = connection.execute(_CHANGED_AFTER, after).all()
        if not rows:
            return
        fresh = [_encoded(r) for r in sorted(rows, key=lambda r: r.seq) if r.relabel == 0]
        changed = sorted((r for r in rows if r.relabel != 0), key=lambda r: r.relabel)
        relabelled = [_encoded(r) for r in changed]
        needed = max(label.need.bit_length() for label in (*fresh, *relabelled))
        if needed > len(self.columns.topics):  # a topic another worker registered
            registered = connection.execute(
                select(topics.c.topic)
                .where(topics.c.bit >= len(self.columns.topics))
                .order_by(topics.c.bit)
            )
            self.columns.add_topics(list(registered.scalars()))
        self.columns.append(fresh)
        for label in relabelled:
            self.columns.update(label)
        if changed:
            self._relabelled = max(self._relabelled, changed[-1].relabel)

    def read_item(self, user: User, item_id: str) -> dict[str, Any]:
        """The item with its content and marking, or ``Denied`` with the decision."""
        refusal: NodeError | None = None
        content = b""
        entries: list[tuple[str, dict[str, Any]]] = []
        with reading(self.engine) as connection:
            row = find_item(connection, item_id)
        if row is None:
            entries.append(("item.refused", {"item": item_id[:64], "reason": "NOT_FOUND"}))
            refusal = NotFound(f"no item {item_id}", audited=True)
        elif not self.intact(row):
            entries.append(("integrity", {"item": item_id, "where": "read"}))
            refusal = IntegrityFailure(
                f"item {item_id}: its label or content no longer matches its signature",
                audited=True,
            )
        else:
            verdict = self._verdict(user, Action.READ, row)
            assert verdict.decision is not None  # INVARIANT: a read is decided on the label
            decision: Decision = verdict.decision
            if decision.allow:
                try:
                    content = self.decrypt(row)
                except IntegrityFailure as e:
                    entries.append(("integrity", {"item": item_id, "where": "decrypt"}))
                    refusal = IntegrityFailure(str(e), audited=True)
            else:
                refusal = Denied(decision, audited=True)
            if not isinstance(refusal, IntegrityFailure):
                entries.append(
                    (
                        "item.read" if decision.allow else "item.refused",
                        {"item": item_id, "reason": decision.reason.value, "rule": decision.rule},
                    )
                )

        def audited(tx: AuditTransaction) -> None:
            for kind, data in entries:
                tx.append(kind, user.id, data)

        self.audit.batched(audited, isolated=False)  # the content only once its read is logged
        if refusal is not None:
            raise refusal
        view = self._view(row._mapping, decision)
        view["content_b64"] = base64.b64encode(content).decode("ascii")
        try:
            view["content"] = content.decode("utf-8")
        except UnicodeDecodeError:
            view["content"] = None
        return view

    def verdict_on(
        self, user: User, action: Action, row: Any, *, level: str | None = None
    ) -> Verdict | None:
        """The authority's verdict on ``user`` doing ``action`` on a stored item, decided on
        its signed label (``level``: a reclassification's new level); None if the row was
        tampered with."""
        return self._verdict(user, action, row, level=level) if self.intact(row) else None

    def on_item(self, user: User, action: Action, row: Any, *, level: str | None = None) -> Verdict:
        """The authority's verdict on acting on a stored item, its refusal raised
        (``IntegrityFailure`` for a row tampered with)."""
        verdict = self.verdict_on(user, action, row, level=level)
        if verdict is None:
            raise IntegrityFailure(f"item {row.id}: no longer matches its signature")
        return verdict.check()

    def _verdict(
        self, user: User, action: Action, row: Any, *, level: str | None = None
    ) -> Verdict:
        verdict = self.authority.decide(
            user, action, Target(copy=held_copy(row), level=level), self.today()
        )
        if verdict.decision is not None:
            self.metrics.decisions.labels(verdict.decision.reason.value).inc()
        return verdict

    def intact(self, row: Any) -> bool:
        """Label, custody and ciphertext still match the node's signature and columns.

        A row found intact is remembered: its signed columns (the ciphertext by its
        digest, recomputed each time), by its signature. The same columns need no second
        signature check; any edit makes them differ from those remembered.
        """
        try:
            if row.custodian != self.nation:
                return False
            if digest(bytes(row.ciphertext)) != bytes(row.content_digest):
                return False
            columns = _signed_columns(row)
            signature = bytes(row.signature)
            if self._intact_rows.get(signature) == columns:
                return True
            verify(
                self.public.signing,
                binding_message(bound_fields(row._mapping), bytes(row.content_digest)),
                signature,
            )
        except (BadSignature, ValueError, TypeError, KeyError):  # a column no longer parses
            return False
        self._intact_rows.put(signature, columns)
        return True

    def decrypt(self, row: Any) -> bytes:
        context = str(row.id).encode()
        try:
            key = aead.unwrap_key(self.keys.storage, bytes(row.wrapped_key), context=context)
            return aead.decrypt(key, bytes(row.ciphertext), aad=context)
        except DecryptionFailed as e:
            raise IntegrityFailure(f"item {row.id}: its content cannot be decrypted") from e

    def _view(self, row: Mapping[Any, Any], decision: Decision) -> dict[str, Any]:
        label: dict[str, Any] = {
            "originator": row["originator"],
            "classification": row["classification"],
            "area": row["area"],
            "releasable_to": _json_list(row["releasable_to"]),
            "need_to_know": _json_list(row["need_to_know"]),
        }
        return {
            "id": row["id"],
            "title": row["title"],
            "label": label,
            "custodian": row["custodian"],
            "consented_to": _json_list(row["consented_to"]),
            "marking": decision.marking.to_dict() if decision.marking else None,
            "agreement": decision.agreement,
            "created_at": row["created_at"],
            "created_by": row["created_by"],
        }

    # -- consent and incidents ----------------------------------------------------------

    def add_consent(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        """The originator's written consent to release its item to a third party (officer).

        Custodians learn of it through federation (``Exchange.consent``).
        """
        self.require(user, Action.CONSENT)
        if to not in self.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        with self.audit.transaction() as tx:
            row = find_item(tx.connection, item_id)
            if row is None:
                raise NotFound(f"no item {item_id}")
            self.on_item(user, Action.CONSENT, row)
            consented = _json_list(row.consented_to)
            self.rewrite(tx, row, {"consented_to": json.dumps(sorted({*consented, to}))})
            granted_at = self.audit.now()
            tx.connection.execute(
                insert(consents).values(
                    item_id=item_id, to_party=to, granted_by=user.id, granted_at=granted_at
                )
            )
            tx.append("consent.granted", user.id, {"item": item_id, "to": to})
        return {"item": item_id, "to": to, "granted_by": user.id, "granted_at": granted_at}

    def rewrite(self, tx: _Tx, row: Any, changes: dict[str, Any]) -> None:
        """Change an item's label or custody: checked, re-signed and re-encoded.

        The listing's columns follow once the transaction commits.
        """
        connection = tx.connection
        if not self.intact(row):
            raise IntegrityFailure(f"item {row.id}: no longer matches its signature")
        fields = dict(row._mapping) | changes
        signature = sign(
            self.keys.signing, binding_message(bound_fields(fields), bytes(row.content_digest))
        )
        topic_bit = {t: i for i, t in enumerate(self.columns.topics)}
        encoded = self._encode(_held_label(_Row(fields)), topic_bit)
        connection.execute(
            update(items)
            .where(items.c.seq == row.seq)
            .values(**changes, signature=signature, **_encoded_columns(encoded))
        )
        connection.execute(insert(relabels).values(seq=row.seq))  # for the other workers
        updated = EncodedLabel(row.seq, *encoded)
        tx.on_commit(lambda: self.columns.update(updated))

    def report_incident(
        self,
        user: User,
        item_id: str,
        kind: str,
        description: str,
        notify: Callable[[Connection, dict[str, Any], str], None] | None = None,
    ) -> dict[str, Any]:
        """Report the loss or compromise of an item the reporter may see (Art. 17)."""
        self.require(user, Action.REPORT_INCIDENT)
        if kind not in INCIDENT_KINDS:
            raise RequestError.of("kind", f"one of {', '.join(INCIDENT_KINDS)}")
        if len(description) > 10_000:
            raise RequestError.of("description", "at most 10000 characters")
        if "\x00" in description:
            raise RequestError.of("description", "NUL characters are not accepted")
        with self.audit.transaction() as tx:
            row = find_item(tx.connection, item_id)
            verdict = None if row is None else self.verdict_on(user, Action.REPORT_INCIDENT, row)
            if verdict is None or not verdict.allowed:
                missing = True
            else:
                missing = False
                now = self.clock()
                incident = {
                    "id": str(uuid.uuid4()),
                    "item_id": item_id,
                    "kind": kind,
                    "description": description,
                    "reported_by": user.id,
                    "reported_at": _iso(now),
                    "notify_by": _iso(
                        now + dt.timedelta(hours=self.config.incident_deadline_hours)
                    ),
                    "notified_at": None,
                }
                if row.originator == self.nation:  # the originator is this node: told now
                    incident["notified_at"] = incident["reported_at"]
                tx.connection.execute(insert(incidents).values(**incident))
                if notify is not None:  # the notice to the originator, in this transaction
                    notify(tx.connection, incident, row.originator)
                tx.append(
                    "incident.reported",
                    user.id,
                    {"incident": incident["id"], "item": item_id, "kind": kind},
                )
        if missing:
            raise NotFound(f"no item {item_id}")
        return self._incident_view(incident)

    def incidents(self, user: User) -> list[dict[str, Any]]:
        """Every incident, with the time left before the originator must be told (officer)."""
        self.require(user, Action.INCIDENTS)
        with self.engine.connect() as connection:
            rows = connection.execute(select(incidents).order_by(incidents.c.reported_at)).all()
            readable = self._readable(connection, user, {r.item_id for r in rows})
        views = []
        for row in rows:
            view = self._incident_view(dict(row._mapping))
            if row.item_id not in readable:  # what it says of an item the officer may not read
                view["description"] = None
                view["withheld"] = ["description"]
            views.append(view)
        return views

    def _readable(self, connection: Connection, user: User, item_ids: set[str]) -> set[str]:
        """Those of ``item_ids`` held here, intact, that ``user`` may read; and the ids of
        no item held here (nothing of an item to withhold)."""
        found: dict[str, Any] = {}
        for start in range(0, len(item_ids), 500):
            chunk = sorted(item_ids)[start : start + 500]
            found.update(
                (row.id, row)
                for row in connection.execute(select(items).where(items.c.id.in_(chunk)))
            )
        today = self.today()
        readable = item_ids - set(found)
        for item_id, row in found.items():
            if self.intact(row) and self.authority.may_read(user, held_copy(row), today):
                readable.add(item_id)
        return readable

    def _incident_view(self, incident: dict[str, Any]) -> dict[str, Any]:
        deadline = dt.datetime.fromisoformat(incident["notify_by"])
        overdue = incident["notified_at"] is None and self.clock() > deadline
        left = (deadline - self.clock()).total_seconds()
        return incident | {"overdue": overdue, "seconds_left": max(0, int(left))}

    # -- agreements and audit -----------------------------------------------------------

    def agreements(self, at: dt.date | None = None) -> list[dict[str, Any]]:
        day = at or self.today()
        catalogue = self.rulebook.catalogue
        return [
            {
                "id": a.id,
                "title": a.title,
                "parties": a.parties,
                "scope": a.scope,
                "status": status.value if status else None,
                "events": [
                    {"status": e.status.value, "date": e.date.isoformat()} for e in a.events
                ],
                "equivalence": a.rows(),
                "source": a.source,
            }
            for a, status in status_table(catalogue, day)
        ]

    def audit_entries(self, user: User, *, after: int = -1, limit: int = 100) -> dict[str, Any]:
        self.require(user, Action.AUDIT)
        limit = max(1, min(limit, MAX_PAGE))
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(audit_entries.c.seq, audit_entries.c.body, audit_entries.c.leaf)
                .where(audit_entries.c.seq > after)
                .order_by(audit_entries.c.seq)
                .limit(limit)
            ).all()
            entries = [(json.loads(body), bytes(leaf)) for _, body, leaf in rows]
            about = {e["seq"]: entry_item(e) for e, _ in entries}
            readable = self._readable(connection, user, {i for i in about.values() if i})
        shown = []
        for entry, leaf in entries:
            item_id = about[entry["seq"]]
            if item_id is not None and item_id not in readable:
                entry = withheld(entry)
            elif entry["kind"] == "items.listed" and entry["actor"] != user.id:
                entry = without_search(entry)
            if "withheld" in entry:  # its place in the tree still proven, by its leaf
                entry["leaf"] = leaf.hex()
            shown.append(entry)
        head = self.audit.head()
        return {
            "entries": shown,
            "head": head.to_dict() if head else None,
            "signing_key": self.public.signing.hex(),
        }

    def verify_audit(self, progress: Callable[[int], None] | None = None) -> TreeHead | None:
        from gsoia.node.rotation import own_signing_keys

        keys = own_signing_keys(self)
        head = verify_log(self.engine, keys, progress)
        anchor = self.audit.anchor
        held = anchor.read() if anchor is not None else None
        if anchor is not None and held is not None:
            size = 0 if head is None else head.size
            check_anchor(held, size, lambda n: self.audit.leaves(n), keys, anchor.path)
        return head

    def close(self) -> None:
        """Write the refusals still counted, and release the database connections."""
        try:
            self.flush_refusals(everything=True)
        finally:
            try:
                if self.audit.anchor is not None:
                    self.audit.anchor.close()
            finally:
                self.engine.dispose()


def held_copy(row: Any) -> Copy:
    """A stored item as the authority sees it: its label and its custody."""
    return Copy(row.id, _label(row), row.custodian, _json_list(row.consented_to))


def find_item(connection: Connection, item_id: str) -> Any:
    """The stored row of an item, or None (also for ids no item can have)."""
    if not item_id or len(item_id) > 64 or "\x00" in item_id:
        return None
    return connection.execute(_ITEM_BY_ID, {"id": item_id}).first()


def _item_problems(title: str, content: bytes, **label_texts: str) -> list[Problem]:
    """An item's title and content (and NUL in ``label_texts``, by place) as checked."""
    problems = []
    if not title.strip() or len(title) > MAX_TITLE:
        problems.append(Problem("title", f"1 to {MAX_TITLE} characters"))
    problems += _nul_problems(title=title, **label_texts)
    if len(content) > MAX_CONTENT:
        problems.append(Problem("content", f"larger than {MAX_CONTENT} bytes"))
    return problems


def _nul_problems(**fields: str) -> list[Problem]:
    """Text with NUL characters is refused (PostgreSQL cannot store it; nothing needs it)."""
    return [
        Problem(place, "NUL characters are not accepted")
        for place, v in fields.items()
        if "\x00" in v
    ]


class _Row:
    """Attribute access over a mapping, like a result row."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._mapping = fields

    def __getattr__(self, name: str) -> Any:
        return self._mapping[name]


def _json_list(text: str) -> list[str]:
    return list(_json_names(text))


@lru_cache(maxsize=4096)
def _json_names(text: str) -> tuple[str, ...]:
    """A stored JSON list of names (releasable-to, need-to-know): few distinct, parsed once."""
    value = json.loads(text)
    return tuple(str(v) for v in value)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _normal(label: HeldLabel) -> HeldLabel:
    """The label as stored: every optional field present."""
    return {
        "originator": label["originator"],
        "classification": label["classification"],
        "area": label.get("area"),
        "releasable_to": list(label.get("releasable_to", [])),
        "need_to_know": list(label.get("need_to_know", [])),
    }


def travelling_item(row: Any) -> dict[str, Any]:
    """The originator's item as it travels to a partner: what the sender's binding
    signature covers (label, title, provenance; not custody)."""
    return {
        "id": row.id,
        "title": row.title,
        "originator": row.originator,
        "classification": row.classification,
        "area": row.area,
        "releasable_to": _json_list(row.releasable_to),
        "need_to_know": _json_list(row.need_to_know),
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


def item_label(row: Any) -> Label:
    """A stored item's label, as its originator wrote it."""
    return _label(row)


def _label(row: Any) -> Label:
    return {
        "originator": row.originator,
        "classification": row.classification,
        "area": row.area,
        "releasable_to": _json_list(row.releasable_to),
        "need_to_know": _json_list(row.need_to_know),
    }


def _held_label(row: Any) -> HeldLabel:
    label: HeldLabel = {**_label(row)}  # type: ignore[typeddict-item]
    label["custodian"] = row.custodian
    label["consented_to"] = _json_list(row.consented_to)
    return label


_BOUND = (
    "id",
    "title",
    "originator",
    "classification",
    "area",
    "releasable_to",
    "need_to_know",
    "custodian",
    "consented_to",
    "created_at",
    "created_by",
)
"""The columns the node's signature binds to the content digest (``bound_fields``)."""

_signed_columns = attrgetter(*_BOUND, "content_digest", "signature")
"""The signed columns with the digest and the signature: what ``intact`` remembers."""


class _Listed(NamedTuple):
    """A listed row as a plain tuple: its columns read at C speed (a result row's
    attributes cost about a microsecond each, and a page reads some 3,000)."""

    seq: int
    id: str
    title: str
    originator: str
    classification: str
    area: str | None
    releasable_to: str
    need_to_know: str
    custodian: str
    consented_to: str
    created_at: str
    created_by: str
    ciphertext: bytes
    content_digest: bytes
    signature: bytes

    @property
    def _mapping(self) -> dict[str, Any]:
        return self._asdict()


_LISTED = select(*(items.c[name] for name in _Listed._fields))
"""What a listed row is checked and shown with (not its keys, codes or seal), in the order
of ``_Listed``'s fields."""

# Statements built once: SQLAlchemy then finds their compiled form without rebuilding
# a cache key per call.
_PAGE = _LISTED.where(items.c.seq.in_(bindparam("seqs", expanding=True))).order_by(items.c.seq)
"""SQLite: the rows of a page."""
# PostgreSQL: a page's seqs as one array parameter, not a statement of 100 parameters.
_XMIN: Labelled[int] = literal_column("xmin::text::bigint", BigInteger).label("version")
_IN_PAGE = items.c.seq == any_(bindparam("seqs", type_=ARRAY(BigInteger)))
_PAGE_VERSIONS = select(items.c.seq, _XMIN).where(_IN_PAGE).order_by(items.c.seq)
"""PostgreSQL: the version of each row of a page (the transaction that wrote it)."""
_PAGE_VERSIONED = _LISTED.add_columns(_XMIN).where(_IN_PAGE)
"""PostgreSQL: rows of a page not known in their version, with it."""
_ITEM_BY_ID = select(items).where(items.c.id == bindparam("id"))
_ENCODED = (
    items.c.seq,
    items.c.label_key,
    items.c.custodian_code,
    items.c.open_bits,
    items.c.need_bits,
)
_NO_SEQ_ABOVE = literal_column("9223372036854775807", BigInteger)
"""The upper bound of the ranges of ``_CHANGED_AFTER``: a range with two bounds is planned
on the primary key's index on PostgreSQL even where the table was never analysed (a lower
bound alone is then estimated at a third of the rows: a scan of the whole table)."""
_CHANGED_AFTER = union_all(
    select(literal_column("0", BigInteger).label("relabel"), *_ENCODED).where(
        items.c.seq > bindparam("last"), items.c.seq <= _NO_SEQ_ABOVE
    ),
    select(relabels.c.id, *_ENCODED)
    .join_from(relabels, items, relabels.c.seq == items.c.seq)
    .where(relabels.c.id > bindparam("relabelled"), relabels.c.id <= _NO_SEQ_ABOVE),
)
"""Items stored past a seq (``relabel`` 0), and items relabelled past a number, in one
round trip."""


# The two statements of every listing on PostgreSQL (and the insert of one created item),
# compiled once and run on the driver's own cursor: SQLAlchemy's execution and result
# machinery cost about as much CPU again as psycopg's (0.8 against 0.4 ms a listing,
# measured in one process).
_CHANGED_AFTER_PG = compiled(_CHANGED_AFTER)
_PAGE_VERSIONS_PG = compiled(_PAGE_VERSIONS)


class _Changed(NamedTuple):
    """A row of ``_CHANGED_AFTER``."""

    relabel: int
    seq: int
    label_key: int
    custodian_code: int
    open_bits: bytes
    need_bits: bytes


def _encoded(row: Any) -> EncodedLabel:
    return EncodedLabel(
        row.seq,
        row.label_key,
        row.custodian_code,
        from_bits(row.open_bits),
        from_bits(row.need_bits),
    )


def bound_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the node's signature binds to the content: label, custody, title, provenance."""
    return {
        "id": row["id"],
        "title": row["title"],
        "originator": row["originator"],
        "classification": row["classification"],
        "area": row["area"],
        "releasable_to": _json_list(row["releasable_to"]),
        "need_to_know": _json_list(row["need_to_know"]),
        "custodian": row["custodian"],
        "consented_to": _json_list(row["consented_to"]),
        "created_at": row["created_at"],
        "created_by": row["created_by"],
    }


def _encoded_columns(encoded: tuple[int, int, int, int]) -> dict[str, Any]:
    key, custodian, open_, need = encoded
    return {
        "label_key": key,
        "custodian_code": custodian,
        "open_bits": to_bits(open_, max(1, (open_.bit_length() + 63) // 64)),
        "need_bits": to_bits(need, max(1, (need.bit_length() + 63) // 64)),
    }


def _subject_key(user: User) -> tuple[Any, ...]:
    """What a decision takes from the user."""
    return (user.nation, user.clearance, user.clearance_expires, user.need_to_know)


_decided_columns = attrgetter(
    "originator",
    "classification",
    "area",
    "releasable_to",
    "need_to_know",
    "custodian",
    "consented_to",
)
"""The columns of a row a decision is made on (``decide_row``), as stored."""


@dataclass(frozen=True, slots=True)
class _Ruling:
    """A listed row's decision, with the parts of its view that follow from the label."""

    decision: Decision
    label: dict[str, Any]
    decided: dict[str, Any]
    serial: int
    """This ruling's number in its node, never reused (a key of ``Node._listed_json``)."""


def _decision_view(decision: Decision) -> dict[str, Any]:
    return {
        "marking": decision.marking.to_dict() if decision.marking else None,
        "agreement": decision.agreement,
    }


def _listed_view(row: Any, ruled: _Ruling) -> dict[str, Any]:
    """A listed row as ``Node._view`` shows it; the label's parts shared with its ruling
    (a view is encoded and dropped: nothing changes them)."""
    return {
        "id": row.id,
        "title": row.title,
        "label": ruled.label,
        "custodian": row.custodian,
        "consented_to": _json_list(row.consented_to),
        **ruled.decided,
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


__all__ = ["AuditTransaction", "ListFilter", "Node"]


def _first_allowed(
    allowed: np.ndarray[Any, np.dtype[np.bool_]],
    seqs: np.ndarray[Any, np.dtype[np.int64]],
    start: int,
    count: int,
) -> list[int]:
    """The seqs of the first ``count`` allowed rows from row ``start``, looked at in chunks."""
    found: list[int] = []
    chunk = 1024
    while start < len(allowed) and len(found) < count:
        rows = np.flatnonzero(allowed[start : start + chunk])[: count - len(found)]
        found.extend(int(s) for s in seqs[start + rows])
        start += chunk
        chunk *= 4
    return found
