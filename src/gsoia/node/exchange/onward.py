"""Onward releases told to the originator: its picture of custody made whole.

Canada's node, holding Japan's item, releases it to the United States with Japan's
consent; in the release's transaction it puts a small notice for Japan's node in the
outbox (item, third party, the release's package, who released it and when). Japan's node
keeps what it is told (``onward_releases``) and shows it in the item's custody
(``gsoia.node.exchange.custody``). A notice from a node that holds no copy of the item is
refused (UNKNOWN_ITEM), one told before (its package again) as a REPLAY.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from gsoia.federation.courier import outbox_row
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.node.exchange.bodies import OnwardBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import held_by_sender, known_party, record
from gsoia.store.schema import onward_releases

if TYPE_CHECKING:
    from gsoia.node.service import Node


def onward_notices(
    peers: PeerBook,
    nation: str,
    to: str,
    released: Iterable[tuple[str, str, str]],
    released_by: str,
    now: str,
) -> list[dict[str, Any]]:
    """The outbox rows telling each originator of the items ``released`` (item, its
    originator, the release's package) that this node (``nation``) released it to ``to``:
    none for this node's own items, the originator's own copy, or an originator that is
    no pinned peer."""
    rows = []
    for item_id, originator, package_id in released:
        if originator in (nation, to) or peers.cached(originator) is None:
            continue
        body = {
            "item": item_id,
            "to": to,
            "package": package_id,
            "released_by": released_by,
            "released_at": now,
        }
        rows.append(
            outbox_row(
                package_id=f"onward-{package_id}",
                kind=Kind.ONWARD,
                peer=originator,
                body=body,
                item_id=item_id,
                now=now,
            )
        )
    return rows


def receive_onward(node: Node, package: Package) -> dict[str, Any]:
    """The originator's node: a custodian's release of its item to a third party."""
    body = read_body(OnwardBody, package)
    known_party(node.rulebook.catalogue.policies, body.to, package)
    with node.audit.transaction() as tx:
        held_by_sender(tx.connection, node.nation, body.item, package)
        if _told(tx.connection, body.package):
            raise PackageRejected(
                Rejection.REPLAY, f"release {body.package} was told before", package.id
            )
        record(tx.connection, package, body.item, node.audit.now())
        tx.connection.execute(
            insert(onward_releases).values(
                package_id=body.package,
                item_id=body.item,
                custodian=package.sender,
                to_party=body.to,
                released_by=f"{package.sender}/{body.released_by}",
                released_at=body.released_at,
                received_at=node.audit.now(),
            )
        )
        tx.append(
            "custody.onward",
            package.sender,
            {"item": body.item, "to": body.to, "package": body.package},
        )
    return {"status": "recorded"}


def _told(connection: Connection, package_id: str) -> bool:
    query = select(onward_releases.c.package_id).where(onward_releases.c.package_id == package_id)
    return connection.execute(query).first() is not None
