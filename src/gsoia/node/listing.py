"""The listing: which items a user may see, a page at a time, decided in bulk.

Every item's label is mirrored in memory (``LabelColumns``), so a listing is one
``decide_many`` over those columns; the items of a page are then read and confirmed one
by one on their verified labels. What a listing decides is remembered, each cache under
a named key saying what it depends on (``Visibility``, ``RulingKey``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, insert, select, update

from gsoia.crypto.canonical import canonical_json
from gsoia.decision import Decision, Rulebook
from gsoia.node.categories import Held
from gsoia.node.columns import LabelColumns, Snapshot
from gsoia.node.item import (
    StoredItem,
    decided_columns,
    decided_on,
    decision_view,
    item_label,
    item_view,
)
from gsoia.node.recent import Recent
from gsoia.node.users import User
from gsoia.node.vault import BoolArray, SeqArray, Vault
from gsoia.node.visible import visible_rows
from gsoia.store.database import peeking, writing
from gsoia.store.schema import meta, topics

SubjectKey = tuple[str, str | None, dt.date | None, tuple[str, ...], Held]
"""What a decision takes from the user: nation, clearance, its expiry, need-to-know, the
security categories held."""


def subject_key(user: User) -> SubjectKey:
    return (user.nation, user.clearance, user.clearance_expires, user.need_to_know, user.categories)


def catalogue_fingerprint(rulebook: Rulebook) -> str:
    """The catalogue as the label columns depend on it (what the policies ask of
    assurances does not change a label's encoding)."""
    beside = {"policies": {"__all__": {"assurance_fields"}}}
    document = rulebook.catalogue.model_dump(mode="json", exclude=beside)
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True)
class ListFilter:
    area: str | None = None
    originator: str | None = None
    level: str | None = None
    q: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


EVERYTHING = ListFilter()
"""No filter: every item a user may see."""


class Visibility(NamedTuple):
    """The key of the rows a user may see under a filter: valid until the day or the
    columns (``LabelColumns.version``) change."""

    subject: SubjectKey
    filters: tuple[tuple[str, str], ...]
    day: dt.date
    columns: int


class RulingKey(NamedTuple):
    """The key of a listed item's decision: the subject, the day, and the item's columns
    a decision is made on (``decided_columns``), as stored."""

    subject: SubjectKey
    day: dt.date
    decided: tuple[Any, ...]


class PageKey(NamedTuple):
    """The key of a page as given (``Listing._pages``): the rows a user may see under a
    filter (``Visibility``'s parts) and the place of the page among them."""

    subject: SubjectKey
    filters: tuple[tuple[str, str], ...]
    day: dt.date
    columns: int
    cursor: int
    limit: int
    newest_first: bool


class ViewKey(NamedTuple):
    """The key of a listed view (``api.listing_json``): the item in one row version,
    under one ruling."""

    seq: int
    version: int
    ruling: int


@dataclass(frozen=True, slots=True)
class Ruling:
    """A listed item's decision, with the parts of its view that follow from the label."""

    decision: Decision
    label: dict[str, Any]
    decided: dict[str, Any]
    serial: int
    """This ruling's number in its listing, never reused (a part of ``ViewKey``)."""


class Shown(NamedTuple):
    """An item of a page, allowed: the item, in which version, under which ruling."""

    item: StoredItem
    version: int
    """The row's version: PostgreSQL's ``xmin``; on SQLite the item's signed ``version``
    (``Vault.page``)."""
    ruling: Ruling

    def view(self) -> dict[str, Any]:
        """The item as shown; the label's parts shared with its ruling (a view is encoded
        and dropped: nothing changes them)."""
        return item_view(self.item, self.ruling.label, self.ruling.decided)

    def key(self) -> ViewKey | None:
        """What the view depends on, if its row version is known."""
        if not self.version:
            return None
        return ViewKey(self.item.seq, self.version, self.ruling.serial)


@dataclass
class Page:
    """A page of a listing: the items shown, how many in all, the next cursor."""

    shown: list[Shown]
    total: int
    next: str | None
    flagged: list[str] = field(default_factory=list)
    """The ids of items no longer intact (left out, to be audited)."""
    reasons: Counter[str] = field(default_factory=Counter)
    """How many items of the page were decided, by reason."""
    serial: int = 0
    """This page's number: the same for a page given again as it was (its items in the
    same row versions, for the same subject on the same day); 0: not numbered."""

    def to_dict(self) -> dict[str, Any]:
        return {"items": [s.view() for s in self.shown], "total": self.total, "next": self.next}


class Listing:
    """The items users may see, decided over the label columns mirrored in memory."""

    def __init__(self, vault: Vault, rulebook: Rulebook, today: Callable[[], dt.date]) -> None:
        self.vault = vault
        self.rulebook = rulebook
        self.today = today
        self.relabelled = 0
        """The last change of a label (``relabels``) the columns hold."""
        self.columns = self.load()
        self._visible: Recent[Visibility, tuple[BoolArray, int]] = Recent(32)
        """The rows a user may see, and how many, per filter and columns version."""
        self._rulings: Recent[RulingKey, Ruling] = Recent(20_000)
        """The decisions of listed items, by subject, day and the columns decided on."""
        self._serials = itertools.count(1)  # a ruling's or a page's number, never reused
        self._pages: Recent[PageKey, tuple[tuple[tuple[int, int], ...], Page]] = Recent(256)
        """Pages as given, with their rows' ``(seq, version)``: the same rows in the same
        versions are the same page (its items intact in those versions, by ``Vault.page``;
        each ruling depends only on the subject, the day and the row's decided columns)."""

    def load(self) -> LabelColumns:
        """The encoded labels of every item, re-encoded if the catalogue changed.

        The last relabel is read first, then the items: a relabel committing in between
        is then taken in again by the next ``refresh``, never missed.
        """
        fingerprint = catalogue_fingerprint(self.rulebook)
        vault = self.vault
        with writing(vault.engine) as connection:
            self.relabelled = vault.last_relabel(connection)
            registered = connection.execute(select(topics.c.topic).order_by(topics.c.bit))
            columns = LabelColumns(self.rulebook.codes, list(registered.scalars()))
            stored = connection.execute(
                select(meta.c.value).where(meta.c.name == "catalogue")
            ).scalar()
            if stored != fingerprint:
                vault.reencode(connection, columns.topics)
                if stored is None:
                    connection.execute(insert(meta).values(name="catalogue", value=fingerprint))
                else:
                    connection.execute(
                        update(meta).where(meta.c.name == "catalogue").values(value=fingerprint)
                    )
            columns.append(vault.labels(connection))
        return columns

    def refresh(self, connection: Connection) -> None:
        """Take in what other workers stored or relabelled since this one last looked.

        New items are those past the last seq held (items are stored under the audit log's
        lock, so in seq order); relabelled ones are numbered in ``relabels``.
        """
        columns = self.columns
        rows = self.vault.changed_after(connection, columns.last_seq(), self.relabelled)
        if not rows:
            return
        fresh = [r.encoded() for r in sorted(rows, key=lambda r: r.seq) if r.relabel == 0]
        changed = sorted((r for r in rows if r.relabel != 0), key=lambda r: r.relabel)
        relabelled = [r.encoded() for r in changed]
        needed = max(label.need.bit_length() for label in (*fresh, *relabelled))
        if needed > len(columns.topics):  # a topic another worker registered
            registered = connection.execute(
                select(topics.c.topic)
                .where(topics.c.bit >= len(columns.topics))
                .order_by(topics.c.bit)
            )
            columns.add_topics(list(registered.scalars()))
        columns.append(fresh)
        for label in relabelled:
            columns.update(label)
        if changed:
            self.relabelled = max(self.relabelled, changed[-1].relabel)

    def page(
        self, user: User, filters: ListFilter, cursor: int, limit: int, newest_first: bool = False
    ) -> Page:
        """The items ``user`` may see under ``filters``, ``limit`` after ``cursor`` (a seq),
        each confirmed on its verified label; those no longer intact ``flagged``.
        ``newest_first``: the ``limit`` before ``cursor`` (0: the newest), newest first."""
        with peeking(self.vault.engine) as connection:  # the page's items checked one by one
            self.refresh(connection)
            snapshot = self.columns.snapshot()
            seqs = snapshot.seqs
            allowed, total, filtered = self._allowed(user, filters, connection, snapshot)
            if newest_first:
                end = int(np.searchsorted(seqs, cursor, side="left")) if cursor else len(seqs)
                page_seqs = last_allowed(allowed, seqs, end, limit + 1)
            else:
                start = int(np.searchsorted(seqs, cursor, side="right"))
                page_seqs = first_allowed(allowed, seqs, start, limit + 1)
            more = len(page_seqs) > limit
            page_seqs = page_seqs[:limit]
            found = self.vault.page(connection, page_seqs)
            if newest_first:
                found.sort(key=lambda pair: pair[0].seq, reverse=True)
        who = subject_key(user)
        day = self.today()
        key = PageKey(who, filtered, day, snapshot.version, cursor, limit, newest_first)
        rows = tuple((item.seq, version or 0) for item, version in found)
        given = self._pages.get(key)
        if given is not None and given[0] == rows and all(v for _, v in rows):
            kept = given[1]  # every row intact, in the versions the page was given in
            return Page(kept.shown, kept.total, kept.next, [], kept.reasons, kept.serial)
        page = self._page(user, who, day, found, total, more, page_seqs)
        if not page.flagged:
            self._pages.put(key, (rows, page))
        return page

    def _page(
        self,
        user: User,
        who: SubjectKey,
        day: dt.date,
        found: list[tuple[StoredItem, int | None]],
        total: int,
        more: bool,
        page_seqs: list[int],
    ) -> Page:
        """The page of the items ``found``, each confirmed on its verified label."""
        page = Page([], total, str(page_seqs[-1]) if more and page_seqs else None)
        page.serial = next(self._serials)
        subject = user.subject()
        catalogue = self.rulebook.catalogue
        for item, row_version in found:
            # The page is confirmed one by one on verified labels: a column edited
            # behind the node's back shows nothing it should not.
            if row_version is None:
                page.flagged.append(item.id)
                continue
            key = RulingKey(who, day, decided_columns(item))
            ruled = self._rulings.get(key)
            if ruled is None:  # a label not seen lately by this subject on this day
                decision = decided_on(self.rulebook, subject, item, day)
                label = item_label(item)
                decided = decision_view(decision, catalogue, label["releasable_to"])
                ruled = Ruling(decision, dict(label), decided, next(self._serials))
                self._rulings.put(key, ruled)
            page.reasons[ruled.decision.reason.value] += 1
            if ruled.decision.allow:
                page.shown.append(Shown(item, row_version, ruled))
        return page

    def _allowed(
        self,
        user: User,
        filters: ListFilter,
        connection: Connection,
        snapshot: Snapshot,
    ) -> tuple[BoolArray, int, tuple[tuple[str, str], ...]]:
        """Which rows of the table ``user`` may see under ``filters``, how many, and the
        filters as a key.

        Kept for the next pages: a walk through the pages decides once, until the
        columns change (``version``) or the day does.
        """
        day = self.today()
        filtered = tuple(sorted(filters.to_dict().items()))
        key = Visibility(subject_key(user), filtered, day, snapshot.version)
        cached = self._visible.get(key)
        if cached is not None:
            return (*cached, filtered)
        allowed = visible_rows(self.rulebook, user.subject(), snapshot, day)
        if filters.to_dict():
            allowed &= self._filter_mask(connection, filters, snapshot.table.key, snapshot.seqs)
        found = (allowed, int(allowed.sum()))
        self._visible.put(key, found)
        return (*found, filtered)

    def _filter_mask(
        self,
        connection: Connection,
        filters: ListFilter,
        keys: np.ndarray[Any, Any],
        seqs: SeqArray,
    ) -> BoolArray:
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
            mask &= np.isin(seqs, self.vault.seqs_where(connection, area=filters.area))
            if area_code is not None and area_code != 0:
                mask &= (keys % areas) == area_code
        if filters.q:
            mask &= np.isin(seqs, self.vault.seqs_where(connection, q=filters.q))
        return mask


def last_allowed(allowed: BoolArray, seqs: SeqArray, end: int, count: int) -> list[int]:
    """The seqs of the last ``count`` allowed rows before row ``end``, the last first,
    looked at in chunks."""
    found: list[int] = []
    chunk = 1024
    while end > 0 and len(found) < count:
        start = max(0, end - chunk)
        rows = np.flatnonzero(allowed[start:end])[::-1][: count - len(found)]
        found.extend(int(s) for s in seqs[start + rows])
        end = start
        chunk *= 4
    return found


def first_allowed(allowed: BoolArray, seqs: SeqArray, start: int, count: int) -> list[int]:
    """The seqs of the first ``count`` allowed rows from row ``start``, looked at in chunks."""
    found: list[int] = []
    chunk = 1024
    while start < len(allowed) and len(found) < count:
        rows = np.flatnonzero(allowed[start : start + chunk])[: count - len(found)]
        found.extend(int(s) for s in seqs[start + rows])
        start += chunk
        chunk *= 4
    return found
