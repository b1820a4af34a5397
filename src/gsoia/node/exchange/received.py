"""What this node has received: the inbox table (each package once), and how a refused
package is written in the audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from gsoia.federation.packages import Package, PackageRejected, Rejection
from gsoia.node.item import StoredItem, find_item
from gsoia.store.schema import inbox, releases

_SEEN_ANY = select(inbox.c.package_id).where(
    inbox.c.package_id.in_(bindparam("ids", expanding=True))
)
INSERT_INBOX = insert(inbox)
_ENTRIES = (
    select(inbox.c.package_id, inbox.c.audit_seq)
    .where(inbox.c.package_id.in_(bindparam("ids", expanding=True)))
    .where(inbox.c.audit_seq.is_not(None))
)


def inbox_row(
    package: Package, item_id: str | None, now: str, seq: int | None = None
) -> dict[str, Any]:
    """The inbox's row of a package received ``now``, about ``item_id``; ``seq``: the audit
    entry a release's receipt proves."""
    return {
        "package_id": package.id,
        "sender": package.sender,
        "kind": package.kind.value,
        "item_id": item_id,
        "received_at": now,
        "audit_seq": seq,
    }


def record(connection: Connection, package: Package, item_id: str | None, now: str) -> None:
    """Write the package in the inbox (a second time fails: the package id is its key)."""
    connection.execute(INSERT_INBOX, inbox_row(package, item_id, now))


def seen(connection: Connection, package_ids: Sequence[str]) -> set[str]:
    """Those of ``package_ids`` received before."""
    found: set[str] = set()
    for start in range(0, len(package_ids), 500):
        chunk = list(package_ids[start : start + 500])
        found.update(connection.execute(_SEEN_ANY, {"ids": chunk}).scalars())
    return found


def receipt_entries(connection: Connection, package_ids: Sequence[str]) -> dict[str, int]:
    """The audit entry (its seq) each of the releases ``package_ids`` received was stored
    with, for those received with one."""
    found: dict[str, int] = {}
    for start in range(0, len(package_ids), 500):
        chunk = list(package_ids[start : start + 500])
        rows = connection.execute(_ENTRIES, {"ids": chunk})
        found.update({row.package_id: int(row.audit_seq) for row in rows})
    return found


def replay(package: Package) -> PackageRejected:
    return PackageRejected(Rejection.REPLAY, "this package was received before", package.id)


def refusal(error: PackageRejected) -> dict[str, Any]:
    """A refused package, as the audit log says it."""
    return {"package": error.package_id, "reason": error.reason.value, "detail": error.detail[:500]}


def usable_id(value: str) -> bool:
    """Whether an id from a URL or a package can name anything stored (no NUL, not
    overlong)."""
    return 0 < len(value) <= 64 and "\x00" not in value


def held_by_sender(
    connection: Connection, nation: str, item_id: str, package: Package
) -> StoredItem:
    """The row of one of this node's (``nation``'s) items that the sender holds a copy
    of: released to it, or passed on to it with this node's consent; UNKNOWN_ITEM else."""
    row = find_item(connection, item_id)
    holders: set[str] = set()
    if row is not None and row.originator == nation:
        released = select(releases.c.peer).where(releases.c.item_id == item_id)
        holders = set(connection.execute(released).scalars())
        holders |= set(json.loads(row.consented_to))  # passed on with our consent
    if package.sender not in holders:
        raise PackageRejected(
            Rejection.UNKNOWN_ITEM,
            f"{package.sender} holds no item {item_id} of {nation}",
            package.id,
        )
    assert row is not None  # INVARIANT: a sender holds only items found
    return row


def known_party(catalogue_policies: Any, party: str, package: Package) -> None:
    """MALFORMED unless ``party`` is a policy of the catalogue."""
    if party not in catalogue_policies:
        raise PackageRejected(Rejection.MALFORMED, f"unknown policy '{party}'", package.id)
