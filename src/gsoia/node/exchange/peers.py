"""The partner nodes this node has pinned, and the signing keys each has retired.

Each pin carries the node's signature over the peer's nation, address and keys and its
version, which the pin's audit entry records (``gsoia.node.signed_rows``): a pin edited or
put back in SQL is refused, so the peer is no peer (its packages are not opened, none are
sealed to it) until the operator pins it again; the refusal is audited (``report``).

Read from the store and kept: a pin that ``gsoia peer add`` (another process) makes or
changes takes effect within ``PEERS_FRESH`` seconds for sending; the inbox reads them
again for every package it opens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from gsoia.crypto.keys import PublicKeys
from gsoia.errors import RequestError
from gsoia.federation.peers import Peer, identity
from gsoia.node.errors import Conflict
from gsoia.node.signed_rows import PEER_FIELDS, RowSeal
from gsoia.node.versions import versioned
from gsoia.store.schema import peers, retired_keys

if TYPE_CHECKING:
    from gsoia.node.service import Node

PEERS_FRESH = 2.0
"""Seconds a node goes on sending with the peers as it last read them."""


class PeerBook:
    """The pinned peers of one node, and their retired signing keys."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.seal = RowSeal(
            "peer", PEER_FIELDS, node.keys.signing, node.public.signing, node.versions
        )
        """Signs each pin as it is written, checks it as it is read."""
        self.refused: dict[str, bytes | None] = {}
        """The pins refused at the last load, by nation: their signature."""
        self._reported: set[tuple[str, bytes | None]] = set()
        self._pinned: dict[str, Peer] = {}
        self._read = 0.0  # time.monotonic() when they were read
        self.retired: dict[str, list[bytes]] = {}
        """The signing keys each peer retired, newest first."""
        self.load()

    def load(self) -> None:
        """The pinned peers read again (replaced whole: readers iterate the old dicts)."""
        read_at = time.monotonic()
        with self.node.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(select(peers))]
            retired = load_retired(connection)
        self.seal.versions.catch_up()
        holds = self.seal.holds
        pinned = {row["nation"]: pinned_peer(row) for row in rows if holds(row)}
        self.refused = {
            row["nation"]: row["signature"] for row in rows if row["nation"] not in pinned
        }
        self._pinned, self.retired, self._read = pinned, retired, read_at

    def report(self) -> None:
        """Audit the pins refused at the last load, each once (a load may run inside a
        transaction, which holds the log's lock: this runs outside one)."""
        for nation, signature in list(self.refused.items()):
            if (nation, signature) not in self._reported:
                self.node.audit.record("integrity", "node", {"peer": nation, "where": "pinned"})
                self._reported.add((nation, signature))

    def identity(self) -> dict[str, Any]:
        """This node's nation and public keys (``/.well-known/gsoia``)."""
        return identity(self.node.nation, self.node.public)

    def add(self, peer: Peer, *, fingerprint: str | None = None) -> Peer:
        """Pin a peer's keys (``gsoia peer add``); refuses a fingerprint that differs."""
        node = self.node
        if fingerprint is not None and fingerprint.lower() != peer.keys.fingerprint():
            raise Conflict(
                f"--fingerprint: {peer.url} presents {peer.keys.fingerprint()}, not {fingerprint}"
            )
        if peer.nation not in node.rulebook.catalogue.policies:
            raise RequestError.of("nation", f"unknown policy '{peer.nation}'")
        if peer.nation == node.nation:
            raise RequestError.of("nation", "a node is not its own peer")
        seal = self.seal
        with node.audit.transaction() as tx:
            existing = tx.connection.execute(
                select(peers).where(peers.c.nation == peer.nation)
            ).first()
            values: dict[str, Any] = {
                "nation": peer.nation,
                "url": peer.url,
                "signing_key": peer.keys.signing,
                "sealing_key": peer.keys.sealing,
                "fingerprint": peer.keys.fingerprint(),
            }
            # the next version of the pin, past any row put back (the operator pins anew)
            subject = seal.subject(values)
            stored = 0 if existing is None else int(existing.version)
            values["version"] = version = max(stored, seal.versions.latest(subject)) + 1
            values["signature"] = seal.signature(values)
            if existing is None:
                tx.connection.execute(insert(peers).values(added_at=node.audit.now(), **values))
            else:
                tx.connection.execute(
                    update(peers).where(peers.c.nation == peer.nation).values(**values)
                )
            tx.append("peer.pinned", "cli", versioned(peer.to_dict(), subject, version))
            tx.on_commit(lambda: seal.versions.note(subject, version))
        self._pinned = {**self._pinned, peer.nation: peer}
        self.refused = {n: s for n, s in self.refused.items() if n != peer.nation}
        return peer

    def repin(self, peer: Peer, retired: list[bytes]) -> None:
        """A peer's new keys, learnt from its rotation package (``exchange.rotation``)."""
        self._pinned = {**self._pinned, peer.nation: peer}
        self.retired = {**self.retired, peer.nation: retired}

    def known(self, nation: str) -> Peer | None:
        """A pinned peer, as pinned at most ``PEERS_FRESH`` seconds ago (a pin made or
        changed since start by another process, ``gsoia peer add``, included)."""
        if nation not in self._pinned or time.monotonic() - self._read > PEERS_FRESH:
            self.load()
        return self._pinned.get(nation)

    def cached(self, nation: str) -> Peer | None:
        """A pinned peer as last loaded (no query: for use inside a transaction)."""
        return self._pinned.get(nation)

    def required(self, nation: str) -> Peer:
        """A pinned peer; ``Conflict`` if ``nation`` is none."""
        peer = self.known(nation)
        if peer is None:
            raise Conflict(f"{nation} is not a peer of this node (gsoia peer add)")
        return peer

    def listed(self) -> list[dict[str, Any]]:
        """Every pinned peer as the database holds it: pins made since start by another
        process (``gsoia peer add``) included."""
        with self.node.engine.connect() as connection:
            rows = connection.execute(select(peers).order_by(peers.c.nation)).all()
        return [pinned_peer(row).to_dict() for row in rows]

    def signing_keys_of(self) -> dict[str, bytes]:
        """Each pinned peer's signing key, as last loaded (what a package is opened with)."""
        return {n: p.keys.signing for n, p in self._pinned.items()}

    def signing_keys(self, nation: str) -> Iterator[bytes]:
        """``nation``'s pinned signing key (this node's own, for a copy of its item coming
        home), then the keys it retired (as last loaded: no query inside a transaction)."""
        if nation == self.node.nation:
            yield self.node.public.signing
        else:
            peer = self._pinned.get(nation)
            if peer is not None:
                yield peer.keys.signing
        yield from self.retired.get(nation, [])


def pinned_peer(row: Any) -> Peer:
    """A peer as its row in ``peers`` pins it (a row, or its mapping)."""
    if not isinstance(row, dict):
        row = row._mapping
    return Peer(
        row["nation"],
        row["url"],
        PublicKeys(bytes(row["signing_key"]), bytes(row["sealing_key"])),
    )


def load_retired(connection: Connection) -> dict[str, list[bytes]]:
    """The signing keys each nation retired, newest first (read with the pinned peers)."""
    retired: dict[str, list[bytes]] = {}
    rows = connection.execute(
        select(retired_keys.c.nation, retired_keys.c.signing_key).order_by(
            retired_keys.c.seq.desc()
        )
    )
    for nation, key in rows:
        retired.setdefault(nation, []).append(bytes(key))
    return retired
