"""A peer's key rotation: its new keys pinned from a package its old key signed.

``open_package`` checked the package's signature with the pinned (old) key; a package
signed by the new key alone was refused there (BAD_SIGNATURE). The old keys are kept, so
what the peer signed before (seals, consents) still verifies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from gsoia.federation.packages import Package, check_rotation
from gsoia.federation.peers import Peer
from gsoia.node.errors import IntegrityFailure
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import record
from gsoia.node.versions import versioned
from gsoia.store.schema import peers, retired_keys

if TYPE_CHECKING:
    from gsoia.node.service import Node


def receive_rotation(node: Node, book: PeerBook, package: Package) -> dict[str, Any]:
    """Pin a peer's new keys, announced by a package its old key signed; keep the old ones."""
    pinned = book.known(package.sender)
    assert pinned is not None  # INVARIANT: open_package accepted only pinned senders
    new = check_rotation(package, pinned.keys)
    seal = book.seal
    with node.audit.transaction() as tx:
        row = dict(
            tx.connection.execute(select(peers).where(peers.c.nation == package.sender))
            .one()
            ._mapping
        )
        if not seal.holds_now(row):  # edited since it was loaded: not signed again as it is
            raise IntegrityFailure(f"the pin of {package.sender} no longer matches its signature")
        renewed_pin = row | {
            "signing_key": new.signing,
            "sealing_key": new.sealing,
            "fingerprint": new.fingerprint(),
            "version": int(row["version"]) + 1,
        }
        subject, version = seal.subject(row), int(renewed_pin["version"])
        record(tx.connection, package, None, node.audit.now())
        tx.connection.execute(
            insert(retired_keys).values(
                nation=package.sender,
                signing_key=pinned.keys.signing,
                sealing_key=pinned.keys.sealing,
                fingerprint=pinned.keys.fingerprint(),
                retired_at=node.audit.now(),
                package_id=package.id,
            )
        )
        tx.connection.execute(
            update(peers)
            .where(peers.c.nation == package.sender)
            .values(
                signing_key=new.signing,
                sealing_key=new.sealing,
                fingerprint=new.fingerprint(),
                version=version,
                signature=seal.signature(renewed_pin),
            )
        )
        tx.append(
            "peer.rotated",
            package.sender,
            versioned(
                {
                    "package": package.id,
                    "old": pinned.keys.fingerprint(),
                    "new": new.fingerprint(),
                },
                subject,
                version,
            ),
        )
        tx.on_commit(lambda: seal.versions.note(subject, version))
        renewed = Peer(pinned.nation, pinned.url, new)
        retired = [pinned.keys.signing, *book.retired.get(package.sender, [])]
        tx.on_commit(lambda: book.repin(renewed, retired))
    return {"status": "rotated", "fingerprint": new.fingerprint()}
