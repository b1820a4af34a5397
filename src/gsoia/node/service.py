"""One nation's node: its keys, its store, its catalogue, its audit log, and the use
cases its interfaces call (REST, TAXII, web, CLI), each delegated to the module that
does it.

The items: ``holdings`` (create, list, read, consent), kept by the ``vault`` (the items
table and its crypto) and listed through the ``listing`` (the label columns and their
caches); ``incidents``; the audit page (``audit_view``); users (``accounts``,
``sessions``); federation (``exchange``). Every use case writes its audit entry in the
transaction of what it does; refusals are audited too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from gsoia.audit.anchor import ANCHOR_FILE, Anchor, check_anchor, check_anchor_quickly
from gsoia.audit.log import AuditLog, AuditTransaction, TreeHead, verify_log
from gsoia.catalogue.load import read_catalogue
from gsoia.catalogue.matrix import status_table
from gsoia.crypto.keys import NodeKeys
from gsoia.decision import Decision, Rulebook
from gsoia.decision.request import Subject
from gsoia.errors import GsoiaError
from gsoia.node.accounts import Accounts
from gsoia.node.adoption import PENDING, adopt
from gsoia.node.audit_view import audit_page
from gsoia.node.authority import OPERATOR, Action, Actor, Authority, Target, Verdict
from gsoia.node.columns import EncodedLabel, LabelColumns
from gsoia.node.config import KEYS_DIR, ConfigError, NodeConfig, private_directory
from gsoia.node.floods import Floods, Refusal
from gsoia.node.holdings import Holdings
from gsoia.node.incidents import Incidents
from gsoia.node.item import Draft, Received, StoredItem
from gsoia.node.listing import EVERYTHING, ListFilter, Listing, Page
from gsoia.node.metrics import Metrics
from gsoia.node.sessions import WebSessions
from gsoia.node.users import Role, User
from gsoia.node.vault import Vault
from gsoia.node.versions import RowVersions
from gsoia.store.database import migrate, open_engine, writing
from gsoia.store.schema import meta

if TYPE_CHECKING:
    from gsoia.node.audit_checks import AuditChecks
    from gsoia.node.exchange import Exchange

ANONYMOUS = "anonymous"
"""The actor of a refused request without good credentials."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
        self.versions = RowVersions(self.engine)
        """The latest version of each item, user and peer the audit log records."""
        self.audit.on_entries = self.versions.follow
        self.vault = Vault(self.engine, self.nation, keys, rulebook.codes, self.versions)
        """The items table and its crypto (``gsoia.node.vault``)."""
        self.listing = Listing(self.vault, rulebook, self.today)
        """The label columns and the listings' caches (``gsoia.node.listing``)."""
        # Items are stored under the audit log's lock: when another worker appended to the
        # log since, its items come first (before this worker's next ones, in seq order).
        self.audit.on_others = self.listing.refresh
        self.holdings = Holdings(self)
        """The items as users create, list, read and consent to them."""
        self.keys_dir: Path | None = None
        """Where the key files are (set by ``open``/``init``; key rotation needs it)."""
        if self._unversioned:  # rows from before versions (migration 0010)
            adopt(self)

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
        node.audit.anchor = Anchor(data / ANCHOR_FILE, keeping=config.witnessing)
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
        anchor = Anchor(data / ANCHOR_FILE, keeping=config.witnessing)
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
            self._unversioned = PENDING in stored
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

    @property
    def columns(self) -> LabelColumns:
        """Every item's encoded label, in memory (``Listing.columns``)."""
        return self.listing.columns

    def refresh(self, connection: Connection) -> None:
        """Take in what other workers stored or relabelled since (``Listing.refresh``)."""
        self.listing.refresh(connection)

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
        categories: dict[str, list[str]] | None = None,
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
            categories=categories,
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
        self, user: User, item: StoredItem, subject: Subject | None = None, *, counted: bool = True
    ) -> Decision:
        """The catalogue's decision on ``user`` reading ``item`` (``Holdings.decide``)."""
        return self.holdings.decide(user, item, subject, counted=counted)

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
        """A new item checked and decided, not yet stored (``Holdings.prepare``)."""
        return self.holdings.prepare(user, label_data, title, content, place, decided=decided)

    def store_items(
        self,
        user: User,
        drafts: Sequence[Draft],
        on_stored: Callable[[AuditTransaction, list[tuple[str, int]]], None] | None = None,
        *,
        views: bool = True,
    ) -> list[dict[str, Any]]:
        """Store prepared items in one transaction (``Holdings.store``)."""
        return self.holdings.store(user, drafts, on_stored, views=views)

    def store_received(
        self,
        tx: AuditTransaction,
        item: dict[str, Any],
        content: bytes,
        *,
        sender: str,
        package_id: str,
        marking: str,
        origin_seal: bytes | None = None,
    ) -> EncodedLabel:
        """Store an item received from a partner (``Holdings.store_received_many``)."""
        received = Received(
            item,
            content,
            sender=sender,
            package_id=package_id,
            marking=marking,
            origin_seal=origin_seal,
        )
        return self.holdings.store_received_many(tx, [received])[0]

    def store_received_many(
        self, tx: AuditTransaction, received: Sequence[Received]
    ) -> list[EncodedLabel]:
        """Store items received from partners together (``Holdings.store_received_many``)."""
        return self.holdings.store_received_many(tx, received)

    def list_items(
        self,
        user: User,
        filters: ListFilter = EVERYTHING,
        *,
        cursor: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> dict[str, Any]:
        """The items ``user`` may see, ``limit`` at a time after ``cursor`` (a seq), or
        before it newest first (``newest_first``; cursor 0: from the newest)."""
        page = self.holdings.page(
            user, filters, cursor=cursor, limit=limit, newest_first=newest_first
        )
        return page.to_dict()

    def list_page(
        self,
        user: User,
        filters: ListFilter = EVERYTHING,
        *,
        cursor: int = 0,
        limit: int = 100,
    ) -> Page:
        """``list_items`` as a ``Page`` (its views not built yet: ``api.listing_json``)."""
        return self.holdings.page(user, filters, cursor=cursor, limit=limit)

    def read_item(self, user: User, item_id: str) -> dict[str, Any]:
        """The item with its content and marking, or ``Denied`` with the decision."""
        return self.holdings.read(user, item_id)

    def verdict_on(
        self,
        user: User,
        action: Action,
        item: StoredItem,
        *,
        level: str | None = None,
        caught_up: bool = False,
    ) -> Verdict | None:
        """The verdict on acting on a stored item; None if tampered with."""
        return self.holdings.verdict_on(user, action, item, level=level, caught_up=caught_up)

    def on_item(
        self,
        user: User,
        action: Action,
        item: StoredItem,
        *,
        level: str | None = None,
        caught_up: bool = False,
    ) -> Verdict:
        """The verdict on acting on a stored item, its refusal raised."""
        return self.holdings.on_item(user, action, item, level=level, caught_up=caught_up)

    def intact(self, item: StoredItem, *, caught_up: bool = False) -> bool:
        """Label, custody and ciphertext still match the node's signature, in the latest
        version the log records (``Vault.intact``)."""
        return self.vault.intact(item, caught_up=caught_up)

    def decrypt(self, item: StoredItem) -> bytes:
        """The item's content (``Vault.decrypt``)."""
        return self.vault.decrypt(item)

    def add_consent(
        self, user: User, item_id: str, to: str, note: str | None = None
    ) -> dict[str, Any]:
        """The originator's written consent to release its item to a third party."""
        return self.holdings.add_consent(user, item_id, to, note)

    def rewrite(self, tx: AuditTransaction, item: StoredItem, changes: dict[str, Any]) -> None:
        """Change an item's label or custody, signed again (``Holdings.rewrite``)."""
        self.holdings.rewrite(tx, item, changes)

    # -- incidents ------------------------------------------------------------------------

    @cached_property
    def reported(self) -> Incidents:
        """Incidents reported, and their view (``gsoia.node.incidents``)."""
        return Incidents(self)

    def report_incident(
        self,
        user: User,
        item_id: str,
        kind: str,
        description: str,
        notify: Callable[[Connection, dict[str, Any], str], None] | None = None,
    ) -> dict[str, Any]:
        """Report the loss or compromise of an item the reporter may see (Art. 17)."""
        return self.reported.report(user, item_id, kind, description, notify)

    def incidents(self, user: User) -> list[dict[str, Any]]:
        """Every incident, with the time left before the originator must be told (officer)."""
        return self.reported.shown(user)

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
        """A page of the audit log as ``user`` may read it (``audit_view``)."""
        return audit_page(self, user, after=after, limit=limit)

    @cached_property
    def audit_checks(self) -> AuditChecks:
        """The audit log verified for its page, from where the last verification ended."""
        from gsoia.node.audit_checks import AuditChecks

        return AuditChecks(self)

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


__all__ = ["ANONYMOUS", "Node", "utc_now"]
