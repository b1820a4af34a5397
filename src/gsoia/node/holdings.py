"""The items this node holds, as its users act on them: create, list, read, consent.

Every use case decides through the authority (``gsoia.node.authority``), touches the
items through the vault (``gsoia.node.vault``) in one transaction, and writes its audit
entry in that same transaction. Refusals are audited too.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert

from gsoia.crypto.canonical import MAX_SAFE_INTEGER
from gsoia.decision import Decision
from gsoia.decision.request import (
    Subject,
    area_problems,
    categories_of,
    label_problems,
    parse_batch_label,
)
from gsoia.errors import Problem, RequestError
from gsoia.node.authority import Action, Copy, Target, Verdict
from gsoia.node.categories import to_column
from gsoia.node.columns import EncodedLabel
from gsoia.node.errors import Denied, IntegrityFailure, NodeError, NotFound
from gsoia.node.item import (
    Draft,
    Received,
    StoredItem,
    decided_on,
    decided_view,
    find_item,
    held_copy,
    held_label,
    item_problems,
    items_by_id,
    label_columns,
    names,
    normal_label,
    nul_problems,
    stored_item,
)
from gsoia.node.listing import ListFilter, Page
from gsoia.node.users import User
from gsoia.node.vault import encoded_columns
from gsoia.node.versions import item_subject, versioned
from gsoia.store.database import reading
from gsoia.store.schema import consents

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node

MAX_PAGE = 1000
MAX_CURSOR = MAX_SAFE_INTEGER
"""The largest cursor (an item seq) a listing takes: what JSON, and so the audit log, carry."""


class Holdings:
    """This node's items as its users create, list, read and consent to them."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.vault = node.vault
        self.listing = node.listing

    # -- decisions on items ---------------------------------------------------------------

    def decide(
        self, user: User, item: StoredItem, subject: Subject | None = None, *, counted: bool = True
    ) -> Decision:
        """The catalogue's decision on ``user`` (or ``subject``) reading ``item`` today."""
        node = self.node
        decision = decided_on(node.rulebook, subject or user.subject(), item, node.today())
        if counted:
            node.metrics.decisions.labels(decision.reason.value).inc()
        return decision

    def verdict_on(
        self,
        user: User,
        action: Action,
        item: StoredItem,
        *,
        level: str | None = None,
        caught_up: bool = False,
    ) -> Verdict | None:
        """The authority's verdict on ``user`` doing ``action`` on a stored item, decided on
        its signed label (``level``: a reclassification's new level); None if the item was
        tampered with (``Vault.intact``; ``caught_up``: the caller caught the versions up
        after reading the item)."""
        if not self.vault.intact(item, caught_up=caught_up):
            return None
        return self._verdict(user, action, item, level=level)

    def on_item(
        self,
        user: User,
        action: Action,
        item: StoredItem,
        *,
        level: str | None = None,
        caught_up: bool = False,
    ) -> Verdict:
        """The authority's verdict on acting on a stored item, its refusal raised
        (``IntegrityFailure`` for an item tampered with)."""
        verdict = self.verdict_on(user, action, item, level=level, caught_up=caught_up)
        if verdict is None:
            raise IntegrityFailure(f"item {item.id}: no longer matches its signature")
        return verdict.check()

    def _verdict(
        self, user: User, action: Action, item: StoredItem, *, level: str | None = None
    ) -> Verdict:
        node = self.node
        verdict = node.authority.decide(
            user, action, Target(copy=held_copy(item), level=level), node.today()
        )
        if verdict.decision is not None:
            node.metrics.decisions.labels(verdict.decision.reason.value).inc()
        return verdict

    # -- creating -------------------------------------------------------------------------

    def prepare(
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
        node = self.node
        key = None if decided is None else json.dumps(label_data, sort_keys=True)
        known = None if key is None or decided is None else decided.get(key)
        if known is not None:  # ``user`` may create: decided when the label was
            problems = item_problems(title, content)
            if problems:
                raise RequestError(problems)
            return Draft(known.label, title, content, known.decision)
        node.require(user, Action.CREATE)
        label = parse_batch_label(label_data, place)
        extra = {"custodian", "consented_to"} & set(label)
        if extra:
            raise RequestError.of(
                f"{place}.{sorted(extra)[0]}", "set by the node, not by the label"
            )
        catalogue = node.rulebook.catalogue
        problems = label_problems(catalogue, label, place, None, [], f"{place}.")
        problems += area_problems(catalogue, label.get("area"), f"{place}.area")
        if label["originator"] != node.nation:
            problems.append(
                Problem(f"{place}.originator", f"must be this node's nation {node.nation}")
            )
        problems += item_problems(
            title,
            content,
            **{f"{place}.area": label.get("area") or ""},
            **{f"{place}.need_to_know": "".join(label.get("need_to_know", []))},
        )
        if problems:
            raise RequestError(problems)
        label = normal_label(label)
        # nobody files what they could not read
        new = Copy("", label, node.nation)
        verdict = node.require(user, Action.CREATE, Target(copy=new))
        assert verdict.decision is not None  # INVARIANT: decided on the label given
        draft = Draft(label, title, content, verdict.decision)
        if key is not None and decided is not None:
            decided[key] = draft
        return draft

    def store(
        self,
        user: User,
        drafts: Sequence[Draft],
        on_stored: Callable[[AuditTransaction, list[tuple[str, int]]], None] | None = None,
        *,
        views: bool = True,
    ) -> list[dict[str, Any]]:
        """Encrypt, sign and store prepared items in one transaction, one audit entry each.

        An item alone carries its own signature; the items of a batch (a TAXII envelope)
        share one (``gsoia.node.envelopes``). Each carries its originator's seal: it
        travels with the item, alone, to partners (``gsoia.node.origin``).
        ``on_stored(transaction, [(item id, seq), ...])`` runs inside that transaction, for
        callers that keep (and audit) more about the items (TAXII: the STIX metadata and its
        ``taxii.added`` entry). Returns the items as shown to their creator (none with
        ``views=False``).
        """
        node, vault = self.node, self.vault
        written = []
        columns_of: dict[int, dict[str, Any]] = {}  # a batch's labels, each written once
        for draft in drafts:
            label_id = id(draft.label)  # (the drafts hold their labels: ids stay distinct)
            columns = columns_of.get(label_id)
            if columns is None:
                columns = columns_of[label_id] = label_columns(draft.label)
            fields = self._fields(str(uuid.uuid4()), columns, draft.title)
            fields["created_at"] = node.audit.now()
            fields["created_by"] = user.id
            written.append((fields, draft.content))
        envelope: dict[str, Any] | None = None
        if len(written) < 2:
            sealed = [vault.sealed(fields, content) for fields, content in written]
        else:
            envelope, sealed = vault.sealed_together(written)
        prepared = []
        for draft, (fields, content), stored in zip(drafts, written, sealed, strict=True):
            stored["origin_seal"] = vault.origin_seal(fields, content)
            prepared.append((draft, stored))

        def store(tx: AuditTransaction) -> list[dict[str, Any]]:
            columns = self.listing.columns
            if envelope is not None:
                vault.envelopes.insert(tx.connection, envelope)
            topic_bit, registered = vault.topic_bits(
                tx.connection, columns.topics, [d.label for d in drafts]
            )
            encodings = [vault.encode(draft.label, topic_bit) for draft, _ in prepared]
            seqs = vault.insert(
                tx.connection,
                [
                    stored | encoded_columns(encoded)
                    for (_, stored), encoded in zip(prepared, encodings, strict=True)
                ],
            )
            appended: list[EncodedLabel] = []
            stored_ids = []
            for (draft, stored), encoded, seq in zip(prepared, encodings, seqs, strict=True):
                appended.append(EncodedLabel(seq, *encoded, categories_of(draft.label)))
                stored_ids.append((stored["id"], seq))
                data = {
                    "item": stored["id"],
                    "label": dict(draft.label),
                    "content_sha384": stored["content_digest"].hex(),
                }
                tx.append("item.created", user.id, versioned(data, item_subject(stored["id"]), 1))
            new_topics = vault.register_topics(tx.connection, registered, topic_bit)
            if on_stored is not None:
                on_stored(tx, stored_ids)

            def publish() -> None:
                columns.add_topics(new_topics)
                columns.append(appended)
                if envelope is not None:
                    vault.envelopes.remember(envelope)
                for _, stored in prepared:  # signed here, just now: intact as written
                    vault.remember(stored)  # in version 1: nothing to note (``versions``)

            tx.on_commit(publish)
            if not views:
                return []
            catalogue = node.rulebook.catalogue
            return [
                decided_view(stored_item(stored | {"seq": seq}), draft.decision, catalogue)
                for (draft, stored), seq in zip(prepared, seqs, strict=True)
            ]

        # Concurrent creations share one transaction and one commit (``AuditLog.batched``);
        # ``store`` acts only through the transaction (``on_stored`` too), so a batch of them
        # needs no savepoints unless one fails.
        return node.audit.batched(store, rerunnable=True)

    def _fields(self, item_id: str, columns: dict[str, Any], title: str) -> dict[str, Any]:
        """A new copy's signed columns but its provenance, held by this node (``columns``:
        its label's, ``label_columns``)."""
        return {
            "id": item_id,
            "title": title,
            **columns,
            "custodian": self.node.nation,
            "consented_to": "[]",
            "version": 1,
        }

    def store_received_many(
        self, tx: AuditTransaction, received: Sequence[Received]
    ) -> list[EncodedLabel]:
        """Store items received from partners, with this node as custodian (federation).

        Each content is encrypted afresh under this node's keys; the original label is
        kept as the originator wrote it, the custodian's own marking next to it, and the
        originator's seal (checked by the caller) with it, to pass on. The items are
        written in one statement, and two or more share one signature (an envelope,
        ``gsoia.node.envelopes``), as a batch created here does. Each copy is in version 1,
        which the caller's entry records (``package.received``).
        """
        vault = self.vault
        written = [(self._received_fields(r.item), r.content) for r in received]
        envelope: dict[str, Any] | None = None
        if len(written) < 2:
            sealed = [vault.sealed(fields, content) for fields, content in written]
        else:
            envelope, sealed = vault.sealed_together(written)
            vault.envelopes.insert(tx.connection, envelope)
        columns = self.listing.columns
        labels = [held_label(stored_item(stored)) for stored in sealed]
        topic_bit, registered = vault.topic_bits(tx.connection, columns.topics, labels)
        encodings = [vault.encode(label, topic_bit) for label in labels]
        new_topics = vault.register_topics(tx.connection, registered, topic_bit)
        seqs = vault.insert(
            tx.connection,
            [
                stored
                | {
                    "sender": r.sender,
                    "package_id": r.package_id,
                    "custodian_marking": r.marking,
                    "grants": "[]",
                    "origin_seal": r.origin_seal,
                }
                | encoded_columns(encoded)
                for r, stored, encoded in zip(received, sealed, encodings, strict=True)
            ],
        )
        found = [
            EncodedLabel(seq, *encoded, categories_of(label))
            for seq, encoded, label in zip(seqs, encodings, labels, strict=True)
        ]

        def publish() -> None:
            columns.add_topics(new_topics)
            columns.append(found)
            if envelope is not None:
                vault.envelopes.remember(envelope)

        tx.on_commit(publish)
        return found

    def _received_fields(self, item: dict[str, Any]) -> dict[str, Any]:
        """A received item's signed columns, held by this node."""
        return {
            "id": str(item["id"]),
            "title": item["title"],
            "originator": item["originator"],
            "classification": item["classification"],
            "area": item["area"],
            "releasable_to": json.dumps(item["releasable_to"]),
            "need_to_know": json.dumps(item["need_to_know"]),
            "categories": to_column(item.get("categories")),
            "custodian": self.node.nation,
            "consented_to": "[]",
            "created_at": item["created_at"],
            "created_by": item["created_by"],
            "version": 1,
        }

    # -- listing and reading --------------------------------------------------------------

    def page(
        self,
        user: User,
        filters: ListFilter,
        *,
        cursor: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page:
        """The items ``user`` may see, ``limit`` at a time after ``cursor`` (a seq), or
        before it newest first (``newest_first``; 0: from the newest); audited."""
        node = self.node
        node.require(user, Action.LIST)
        limit = max(1, min(limit, MAX_PAGE))
        if not 0 <= cursor <= MAX_CURSOR:
            raise RequestError([Problem("cursor", f"a whole number from 0 to {MAX_CURSOR}")])
        problems = nul_problems(**{f"query.{k}": v for k, v in filters.to_dict().items()})
        if problems:
            raise RequestError(problems)
        page = self.listing.page(user, filters, cursor, limit, newest_first)
        for reason, count in page.reasons.items():
            node.metrics.decisions.labels(reason).inc(count)

        def audited(tx: AuditTransaction) -> None:
            for item_id in page.flagged:
                tx.append("integrity", user.id, {"item": item_id, "where": "list"})
            tx.append(
                "items.listed",
                user.id,
                {"filter": filters.to_dict(), "cursor": cursor, "returned": len(page.shown)},
            )

        node.audit.batched(audited, isolated=False)
        return page

    def read(self, user: User, item_id: str) -> dict[str, Any]:
        """The item with its content and marking, or ``Denied`` with the decision."""
        node = self.node
        refusal: NodeError | None = None
        content = b""
        entries: list[tuple[str, dict[str, Any]]] = []
        with reading(node.engine) as connection:
            item = find_item(connection, item_id)
            if item is not None:
                self.vault.versions.catch_up(connection)  # the log as it is, after the row
        if item is None:
            entries.append(("item.refused", {"item": item_id[:64], "reason": "NOT_FOUND"}))
            refusal = NotFound(f"no item {item_id}", audited=True)
        elif not self.vault.intact(item, caught_up=True):
            entries.append(("integrity", {"item": item_id, "where": "read"}))
            refusal = IntegrityFailure(
                f"item {item_id}: its label or content no longer matches its signature",
                audited=True,
            )
        else:
            verdict = self._verdict(user, Action.READ, item)
            assert verdict.decision is not None  # INVARIANT: a read is decided on the label
            decision: Decision = verdict.decision
            if decision.allow:
                try:
                    content = self.vault.decrypt(item)
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

        node.audit.batched(audited, isolated=False)  # the content only once its read is logged
        if refusal is not None:
            raise refusal
        assert item is not None  # INVARIANT: no refusal, so an item found
        view = decided_view(item, decision, node.rulebook.catalogue)
        view["content_b64"] = base64.b64encode(content).decode("ascii")
        try:
            view["content"] = content.decode("utf-8")
        except UnicodeDecodeError:
            view["content"] = None
        return view

    def readable(self, connection: Connection, user: User, item_ids: set[str]) -> set[str]:
        """Those of ``item_ids`` held here, intact, that ``user`` may read; and the ids of
        no item held here (nothing of an item to withhold)."""
        found = items_by_id(connection, sorted(item_ids))
        self.vault.versions.catch_up(connection)
        today = self.node.today()
        readable = item_ids - set(found)
        authority = self.node.authority
        for item_id, item in found.items():
            intact = self.vault.intact(item, caught_up=True)
            if intact and authority.may_read(user, held_copy(item), today):
                readable.add(item_id)
        return readable

    # -- changing -------------------------------------------------------------------------

    def add_consent(
        self, user: User, item_id: str, to: str, note: str | None = None
    ) -> dict[str, Any]:
        """The originator's written consent to release its item to a third party (officer).

        Custodians learn of it through federation (``Exchange.consent``).
        """
        node = self.node
        node.require(user, Action.CONSENT)
        if to not in node.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        with node.audit.transaction() as tx:
            item = find_item(tx.connection, item_id)
            if item is None:
                raise NotFound(f"no item {item_id}")
            self.on_item(user, Action.CONSENT, item)
            consented = names(item.consented_to)
            self.rewrite(tx, item, {"consented_to": json.dumps(sorted({*consented, to}))})
            granted_at = node.audit.now()
            tx.connection.execute(
                insert(consents).values(
                    item_id=item_id,
                    to_party=to,
                    granted_by=user.id,
                    granted_at=granted_at,
                    note=note,
                )
            )
            noted = {"note": note} if note else {}
            tx.append("consent.granted", user.id, {"item": item_id, "to": to} | noted)
        return {
            "item": item_id,
            "to": to,
            "granted_by": user.id,
            "granted_at": granted_at,
            "note": note,
        }

    def rewrite(self, tx: AuditTransaction, item: StoredItem, changes: dict[str, Any]) -> None:
        """Change an item's label or custody: checked, signed again, encoded again, in its
        next version, which an ``item.version`` entry records (the caller's entry says why).

        The listing's columns and the versions known follow once the transaction commits.
        """
        columns, versions = self.listing.columns, self.vault.versions
        updated = self.vault.rewrite(tx.connection, item, changes, columns.topics)
        subject, version = item_subject(item.id), item.version + 1
        tx.append("item.version", "node", versioned({"item": item.id}, subject, version))

        def publish() -> None:
            columns.update(updated)
            versions.note(subject, version)

        tx.on_commit(publish)


__all__ = ["MAX_CURSOR", "MAX_PAGE", "Holdings"]
