"""A stored item: its type, its columns as written, signed and held, and its views.

``StoredItem`` is a row of the items table, typed; every other module takes items as
``StoredItem``. The lists of columns an originator writes (``WRITTEN``), a custodian
holds (``CUSTODY``) and the node's signature binds (``SIGNED``) are written here once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, select

from gsoia.decision import Decision
from gsoia.decision.request import (
    BatchLabel,
    CategorizedLabel,
    Subject,
    categories_of,
)
from gsoia.errors import Problem
from gsoia.labels_xml.banner import marking_display
from gsoia.node.authority import Copy
from gsoia.node.categories import as_dict, from_column, frozen, to_column
from gsoia.store.schema import items

if TYPE_CHECKING:
    import datetime as dt

    from gsoia.catalogue.model import Catalogue
    from gsoia.decision import Rulebook

MAX_TITLE = 1000
MAX_CONTENT = 8 * 1024 * 1024
MAX_ID = 64
"""The longest id an item can have (the column's width)."""


class StoredItem(NamedTuple):
    """A row of the items table, in the table's column order (read by ``ITEM``)."""

    seq: int
    id: str
    title: str
    originator: str
    classification: str
    area: str | None
    releasable_to: str
    """JSON list of nations (``names``)."""
    need_to_know: str
    """JSON list of topics (``names``)."""
    custodian: str
    consented_to: str
    """JSON list of nations (``names``)."""
    ciphertext: bytes
    wrapped_key: bytes
    content_digest: bytes
    signature: bytes
    created_at: str
    created_by: str
    label_key: int
    custodian_code: int
    open_bits: bytes
    need_bits: bytes
    sender: str | None
    package_id: str | None
    custodian_marking: str | None
    grants: str | None
    origin_seal: bytes | None
    version: int
    """The copy's version: 1 as stored, one more at each change (``gsoia.node.versions``)."""
    categories: str | None
    """JSON object of the label's security categories by tag (``gsoia.node.categories``);
    None: none."""
    envelope: str | None
    """The batch whose one signature covers this item (``gsoia.node.envelopes``); None:
    the item carries its own ``signature``."""
    envelope_slot: int | None
    """Its place in that batch."""


assert StoredItem._fields == tuple(items.c.keys())  # INVARIANT: one order, the table's

LABEL = ("originator", "classification", "area", "releasable_to", "need_to_know")
"""The label's columns, as its originator wrote it."""
CUSTODY = ("custodian", "consented_to")
"""Who holds this copy, and to whom the originator consented."""
SIGNED = (
    "id",
    "title",
    *LABEL,
    *CUSTODY,
    "created_at",
    "created_by",
    "version",
    "categories",
)
"""The columns the node's signature binds to the content digest (``signed_fields``); the
version too, so that a row is served only in the version the audit log last recorded."""
WHEN_GIVEN = frozenset({"categories"})
"""Signed columns bound only where they are not NULL: an item without categories is
signed, sealed and sent as one of a node that knows none (and a NULL put in or taken out
changes what is signed all the same)."""
WRITTEN = tuple(name for name in SIGNED if name not in (*CUSTODY, "version"))
"""The columns as the originator wrote them: what travels to a partner (``travelling``)."""
LISTS = frozenset({"releasable_to", "need_to_know", "consented_to"})
"""The columns holding a JSON list of names."""
DECIDED = (*LABEL, *CUSTODY, "categories")
"""The columns a decision is made on."""

signed_columns = attrgetter(*SIGNED, "content_digest", "signature", "envelope", "envelope_slot")
"""The signed columns with the digest and the signature (or the place in the batch whose
signature covers them), as stored."""
decided_columns = attrgetter(*DECIDED)
"""The columns a decision is made on, as stored."""

ITEM = select(items)
"""Every column of items, in ``StoredItem``'s order."""
_BY_ID = ITEM.where(items.c.id == bindparam("id"))
_BY_IDS = ITEM.where(items.c.id.in_(bindparam("ids", expanding=True)))
_CHUNK = 500


def usable_id(item_id: str) -> bool:
    """Whether an id can name a stored item (not empty, not overlong, no NUL)."""
    return 0 < len(item_id) <= MAX_ID and "\x00" not in item_id


def find_item(connection: Connection, item_id: str) -> StoredItem | None:
    """The stored item of that id, or None (also for ids no item can have)."""
    if not usable_id(item_id):
        return None
    row = connection.execute(_BY_ID, {"id": item_id}).first()
    return None if row is None else StoredItem._make(row)


def items_by_id(connection: Connection, item_ids: Iterable[str]) -> dict[str, StoredItem]:
    """The stored items of these ids, by id (ids no item can have are left out)."""
    usable = [i for i in dict.fromkeys(item_ids) if usable_id(i)]
    found: dict[str, StoredItem] = {}
    for start in range(0, len(usable), _CHUNK):
        chunk = usable[start : start + _CHUNK]
        found.update(
            (row.id, row)
            for row in map(StoredItem._make, connection.execute(_BY_IDS, {"ids": chunk}))
        )
    return found


def stored_item(columns: Mapping[str, Any]) -> StoredItem:
    """An item from its columns by name (those missing: NULL)."""
    return StoredItem._make(columns.get(name) for name in StoredItem._fields)


def item_of(row: Any) -> StoredItem:
    """The item of a row that starts with every column of items (a join: ``select(items,
    ...)``)."""
    return StoredItem._make(tuple(row)[: len(StoredItem._fields)])


@dataclass(frozen=True)
class Draft:
    """A new item, checked and decided, not yet stored."""

    label: BatchLabel
    title: str
    content: bytes
    decision: Decision


@dataclass(frozen=True)
class Received:
    """An item received from a partner, every check passed, to store as this node's copy."""

    item: dict[str, Any]
    content: bytes
    sender: str
    package_id: str
    marking: str
    """This node's own marking of the item (its custodian marking)."""
    origin_seal: bytes | None = None


def names(text: str) -> list[str]:
    """A stored JSON list of names (releasable-to, need-to-know, consented-to)."""
    return list(_names(text))


@lru_cache(maxsize=4096)
def _names(text: str) -> tuple[str, ...]:
    """Parsed once: few lists are distinct."""
    value = json.loads(text)
    return tuple(str(v) for v in value)


def item_label(item: StoredItem) -> CategorizedLabel:
    """A stored item's label, as its originator wrote it (its categories, if it has any)."""
    label: CategorizedLabel = {
        "originator": item.originator,
        "classification": item.classification,
        "area": item.area,
        "releasable_to": names(item.releasable_to),
        "need_to_know": names(item.need_to_know),
    }
    if item.categories is not None:  # seldom: most items carry none
        label["categories"] = from_column(item.categories) or {}
    return label


def held_label(item: StoredItem) -> BatchLabel:
    """A stored item's label with its custody."""
    label: BatchLabel = {**item_label(item)}  # type: ignore[typeddict-item]
    label["custodian"] = item.custodian
    label["consented_to"] = names(item.consented_to)
    return label


def held_copy(item: StoredItem) -> Copy:
    """A stored item as the authority sees it: its label and its custody."""
    return Copy(item.id, item_label(item), item.custodian, names(item.consented_to))


def decision_key(item: StoredItem) -> tuple[Any, ...]:
    """The columns of an item that ``decided_on`` reads: items alike in them are decided
    alike (for one subject, on one day)."""
    return (
        item.originator,
        item.classification,
        item.area,
        item.releasable_to,
        item.need_to_know,
        item.categories,
        item.custodian,
        item.consented_to,
    )


def decided_on(rulebook: Rulebook, subject: Subject, item: StoredItem, at: dt.date) -> Decision:
    """The catalogue's decision on ``subject`` reading ``item``, on ``at``."""
    return rulebook.decide_parsed(
        subject,
        item_label(item),
        custodian=item.custodian,
        consented_to=names(item.consented_to),
        at=at,
    )


def normal_label(label: BatchLabel) -> BatchLabel:
    """The label as stored: every optional field present; categories only if it has any
    (a tag given no category left out)."""
    normal: BatchLabel = {
        "originator": label["originator"],
        "classification": label["classification"],
        "area": label.get("area"),
        "releasable_to": list(label.get("releasable_to", [])),
        "need_to_know": list(label.get("need_to_know", [])),
    }
    categories = as_dict(frozen(categories_of(label)))
    if categories:
        normal["categories"] = categories
    return normal


def label_columns(label: BatchLabel) -> dict[str, Any]:
    """A label's columns as stored (its lists as JSON, its categories as a JSON object)."""
    return {
        "originator": label["originator"],
        "classification": label["classification"],
        "area": label.get("area"),
        "releasable_to": json.dumps(label.get("releasable_to", [])),
        "need_to_know": json.dumps(label.get("need_to_know", [])),
        "categories": to_column(categories_of(label)),
    }


def bound_fields(columns: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Signed columns by name as a signature binds them: lists and categories parsed, a
    column of ``WHEN_GIVEN`` left out where it is NULL."""
    return {
        name: names(v) if name in LISTS else from_column(v) if name in WHEN_GIVEN else v
        for name, v in columns
        if v is not None or name not in WHEN_GIVEN
    }


def signed_fields(item: StoredItem) -> dict[str, Any]:
    """What the node's signature binds to the content: label, custody, title, provenance."""
    return bound_fields(zip(SIGNED, _signed(item), strict=True))


_signed = attrgetter(*SIGNED)


def travelling(item: StoredItem) -> dict[str, Any]:
    """The originator's item as it travels to a partner: what the sender's binding
    signature covers (label, title, provenance; not custody)."""
    return bound_fields(zip(WRITTEN, _written(item), strict=True))


_written = attrgetter(*WRITTEN)


def decision_view(
    decision: Decision, catalogue: Catalogue, released: Sequence[str] | None
) -> dict[str, Any]:
    """What a decision adds to an item's view: the marking, with its ``display`` as the
    SPIFs say it (``released`` the item's ``releasable_to``), and the agreement."""
    marking = None
    if decision.marking is not None:
        display = marking_display(catalogue, decision.marking, released)
        marking = decision.marking.to_dict() | {"display": display}
    return {"marking": marking, "agreement": decision.agreement}


def item_view(
    item: StoredItem, label: Mapping[str, Any], decided: dict[str, Any]
) -> dict[str, Any]:
    """An item as shown to a reader: ``label`` (``item_label``) and ``decided``
    (``decision_view``) given, to be shared between the views of one ruling."""
    return {
        "id": item.id,
        "title": item.title,
        "label": label,
        "custodian": item.custodian,
        "consented_to": names(item.consented_to),
        **decided,
        "created_at": item.created_at,
        "created_by": item.created_by,
    }


def decided_view(item: StoredItem, decision: Decision, catalogue: Catalogue) -> dict[str, Any]:
    """An item as shown to a reader, with the decision on it."""
    label = item_label(item)
    decided = decision_view(decision, catalogue, label["releasable_to"])
    return item_view(item, dict(label), decided)


def item_problems(title: str, content: bytes, **label_texts: str) -> list[Problem]:
    """An item's title and content (and NUL in ``label_texts``, by place) as checked."""
    problems = []
    if not title.strip() or len(title) > MAX_TITLE:
        problems.append(Problem("title", f"1 to {MAX_TITLE} characters"))
    problems += nul_problems(title=title, **label_texts)
    if len(content) > MAX_CONTENT:
        problems.append(Problem("content", f"larger than {MAX_CONTENT} bytes"))
    return problems


def nul_problems(**fields: str) -> list[Problem]:
    """Text with NUL characters is refused (PostgreSQL cannot store it; nothing needs it)."""
    return [
        Problem(place, "NUL characters are not accepted")
        for place, v in fields.items()
        if "\x00" in v
    ]
