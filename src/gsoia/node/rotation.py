"""Key rotation: a node replaces its keys; its peers learn the new ones from the old key.

``rotate`` (``gsoia keys rotate``, with the node stopped):

1. new signing and sealing keys are staged in ``keys/next/`` (mode 0600);
2. one transaction: every stored item is re-bound (its custody signature, checked with
   the old key, is made again with the new), and so is every account's and every pin's
   that still holds (``gsoia.node.signed_rows``), the old public keys join ``retired_keys``,
   ``meta.signing_key`` names the new key, a rotation package for every pinned peer is
   put in the outbox (its body carries the new keys and the new key's proof; the courier
   signs the package itself with the *old* key), and the ``keys.rotated`` audit entry,
   the last one the old key signs, names the new key;
3. the staged keys replace the old ones; the old signing key stays, as
   ``retiring-signing.key``, until every peer has taken its notice (``Announcer``): until
   then, whatever goes to that peer is signed with the old key, the one it still pins.

The audit log is verified with the chain of keys (``own_signing_keys``); the
originator's seals and consents the old key made stay verifiable by peers, which keep the
keys their partners retired (``gsoia.node.exchange.rotated``). A crash between steps is
repaired when the node opens (``settle``): the database says whether the rotation happened.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Table, insert, select, update

from gsoia.audit.log import ROTATED
from gsoia.crypto.keys import (
    NEXT_DIR,
    NodeKeys,
    PublicKeys,
    discard_staged,
    drop_retiring,
    finish_rotation,
    load_retiring,
    load_staged,
    stage_rotation,
)
from gsoia.federation.courier import State, enqueue
from gsoia.federation.packages import Kind, make_rotation_body
from gsoia.node.errors import Conflict
from gsoia.node.signed_rows import RowSeal
from gsoia.store.database import open_engine
from gsoia.store.schema import meta, outbox, peers, retired_keys, users

if TYPE_CHECKING:
    from gsoia.node.service import Node

__all__ = [
    "Announcer",
    "own_signing_keys",
    "retired_signing_keys",
    "rotate",
    "settle",
]

_BATCH = 1000
_ANNOUNCING = (State.PENDING, State.FAILED)


# -- the chain of this node's keys -------------------------------------------------------


def own_signing_keys(node: Node) -> list[bytes]:
    """Every signing key the node used, oldest first, its current one last."""
    return [*retired_signing_keys(node, node.nation, oldest_first=True), node.public.signing]


def retired_signing_keys(node: Node, nation: str, *, oldest_first: bool = False) -> list[bytes]:
    """The signing keys ``nation`` (this node or a peer) retired."""
    order = retired_keys.c.seq if oldest_first else retired_keys.c.seq.desc()
    with node.engine.connect() as connection:
        rows = connection.execute(
            select(retired_keys.c.signing_key)
            .where(retired_keys.c.nation == nation)
            .order_by(order)
        ).scalars()
        return [bytes(k) for k in rows]


# -- rotating this node's keys -----------------------------------------------------------


def rotate(node: Node, keys_dir: Path, actor: str = "cli") -> dict[str, Any]:
    """Replace the node's signing and sealing keys and tell every pinned peer (see above).

    Returns the old and new fingerprints and the rotation packages put in the outbox.
    The node object keeps the old keys: open the node again to use the new ones.

    Raises:
        Conflict: an earlier rotation is still being announced to a peer.
        KeyFileError: the new keys could not be written.
    """
    settle(keys_dir, node.engine)
    with node.engine.connect() as connection:
        waiting = _announcing(connection)
    if waiting or load_retiring(keys_dir) is not None:
        raise Conflict(
            "the previous rotation is still being announced to"
            f" {', '.join(sorted(waiting)) or 'a peer'}: deliver or cancel its packages first"
        )
    old, new = node.keys, node.keys.rotated()
    old_public, new_public = old.public(), new.public()
    stage_rotation(keys_dir, new)
    try:
        with node.audit.transaction() as tx:
            connection = tx.connection
            now = node.audit.now()
            rebound = node.vault.resign(connection, new)
            _resign_rows(connection, users, node.accounts.seal, new.signing)
            _resign_rows(connection, peers, node.exchange.peers_book.seal, new.signing)
            notices = _announce(connection, node.nation, new, old_public, now)
            connection.execute(
                update(meta)
                .where(meta.c.name == "signing_key")
                .values(value=new_public.signing.hex())
            )
            seq = tx.append(
                ROTATED,
                actor,
                {
                    "old": old_public.fingerprint(),
                    "new": new_public.fingerprint(),
                    "signing": new_public.signing.hex(),
                    "sealing": new_public.sealing.hex(),
                    "items_rebound": rebound,
                    "notices": notices,
                },
            )
            connection.execute(
                insert(retired_keys).values(
                    nation=node.nation,
                    signing_key=old_public.signing,
                    sealing_key=old_public.sealing,
                    fingerprint=old_public.fingerprint(),
                    retired_at=now,
                    audit_size=seq + 1,
                )
            )
    except BaseException:
        discard_staged(keys_dir)
        raise
    finish_rotation(keys_dir)
    if not notices:
        drop_retiring(keys_dir)
    return {
        "old": old_public.fingerprint(),
        "new": new_public.fingerprint(),
        "items_rebound": rebound,
        "notices": notices,
    }


def _announce(
    connection: Connection, nation: str, new: NodeKeys, old_public: PublicKeys, now: str
) -> list[dict[str, str]]:
    """A rotation package for every pinned peer, signed with the new key, in the outbox:
    the notices, by peer."""
    new_public = new.public()
    notices = []
    for peer in sorted(connection.execute(select(peers.c.nation)).scalars()):
        package_id = str(uuid.uuid4())
        body = make_rotation_body(
            new.signing,
            nation=nation,
            package_id=package_id,
            old=old_public,
            new=new_public,
            rotated_at=now,
        )
        enqueue(
            connection,
            package_id=package_id,
            kind=Kind.ROTATION,
            peer=peer,
            body=body,
            item_id=None,
            now=now,
        )
        notices.append({"peer": peer, "package": package_id})
    return notices


def _resign_rows(
    connection: Connection, table: Table, seal: RowSeal, key: Ed25519PrivateKey
) -> None:
    """Sign again with ``key`` each row of ``table`` that holds (``RowSeal.resigned``)."""
    primary = table.c[seal.fields[0]]
    for row in [dict(r._mapping) for r in connection.execute(select(table))]:
        signature = seal.resigned(row, key)
        if signature is not None:
            connection.execute(
                update(table).where(primary == row[seal.fields[0]]).values(signature=signature)
            )


def settle(keys_dir: Path, engine: Any) -> None:
    """Finish or undo a rotation a crash interrupted; the database says which."""
    if not (keys_dir / NEXT_DIR).exists():
        return
    staged = load_staged(keys_dir)
    with engine.connect() as connection:
        recorded = connection.execute(
            select(meta.c.value).where(meta.c.name == "signing_key")
        ).scalar()
    if staged is not None and recorded == staged.signing.hex():
        finish_rotation(keys_dir)
    else:
        discard_staged(keys_dir)


def settle_at(keys_dir: Path, database: str) -> None:
    """``settle`` before the node opens (``Node.open``), on its own short-lived engine."""
    if not (keys_dir / NEXT_DIR).exists():
        return
    engine = open_engine(database)
    try:
        settle(keys_dir, engine)
    finally:
        engine.dispose()


def _announcing(connection: Connection) -> set[str]:
    return set(
        connection.execute(
            select(outbox.c.peer)
            .where(outbox.c.kind == Kind.ROTATION.value)
            .where(outbox.c.state.in_(_ANNOUNCING))
        ).scalars()
    )


class Announcer:
    """Which key signs packages for each peer while a rotation is being announced.

    A peer whose rotation package is pending (or was refused) still pins the old key:
    everything for it is signed with the old key, the rotation package first among
    them. Once every peer took its package, the old key is deleted.
    """

    def __init__(self, node: Node, keys_dir: Path | None) -> None:
        self._node = node
        self._keys_dir = keys_dir
        self._lock = threading.Lock()
        self._old: Ed25519PrivateKey | None = None
        self._waiting: set[str] = set()
        if keys_dir is None:
            return
        self._old = load_retiring(keys_dir)
        with node.engine.connect() as connection:
            self._waiting = _announcing(connection)
        if self._old is not None and not self._waiting:
            self._forget()

    def signer(self, peer: str) -> Ed25519PrivateKey:
        with self._lock:
            if self._old is not None and peer in self._waiting:
                return self._old
        return self._node.keys.signing

    def settled(self, peer: str) -> None:
        """``peer`` took its rotation package (or an officer cancelled it)."""
        with self._lock:
            self._waiting.discard(peer)
            if self._old is not None and not self._waiting:
                self._forget()

    def _forget(self) -> None:
        self._old = None
        if self._keys_dir is not None:
            drop_retiring(self._keys_dir)
