"""Peers: other nations' nodes, their public keys pinned on first contact.

A node publishes its nation and public keys at ``/.well-known/gsoia``. ``fetch_identity``
reads a peer's document; the caller pins it (``gsoia peer add``), optionally requiring a
fingerprint obtained out of band.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from gsoia.crypto.errors import CryptoError
from gsoia.crypto.keys import PublicKeys
from gsoia.federation.packages import PeerUnreachable

WELL_KNOWN = "/.well-known/gsoia"
INBOX = "/federation/v1/inbox"
INBOX_BATCH = "/federation/v1/inbox/batch"
"""Several packages in one request, one per line (``gsoia.federation.packages.split_batch``)."""


@dataclass(frozen=True)
class Peer:
    nation: str
    url: str
    keys: PublicKeys

    @property
    def inbox(self) -> str:
        return self.url.rstrip("/") + INBOX

    @property
    def inbox_batch(self) -> str:
        return self.url.rstrip("/") + INBOX_BATCH

    def to_dict(self) -> dict[str, Any]:
        return {
            "nation": self.nation,
            "url": self.url,
            "fingerprint": self.keys.fingerprint(),
            "keys": self.keys.to_dict(),
        }


def identity(nation: str, keys: PublicKeys) -> dict[str, Any]:
    """This node's ``/.well-known/gsoia`` document."""
    return {
        "nation": nation,
        "keys": keys.to_dict(),
        "fingerprint": keys.fingerprint(),
        "inbox": INBOX,
        "inbox_batch": INBOX_BATCH,
        "protocol": "gsoia-federation/1",
    }


def fetch_identity(url: str, timeout: float = 10.0) -> Peer:
    """A peer's nation and keys from ``URL/.well-known/gsoia``."""
    try:
        response = httpx.get(url.rstrip("/") + WELL_KNOWN, timeout=timeout)
    except httpx.HTTPError as e:
        raise PeerUnreachable(f"{url}: {e}") from e
    if response.status_code != 200:
        raise PeerUnreachable(f"{url}{WELL_KNOWN}: HTTP {response.status_code}")
    try:
        document = response.json()
        nation = document["nation"]
        keys = PublicKeys.from_dict(document["keys"])
    except (ValueError, KeyError, TypeError, CryptoError) as e:
        raise PeerUnreachable(f"{url}{WELL_KNOWN}: not a gsoia identity ({e})") from e
    if not isinstance(nation, str):
        raise PeerUnreachable(f"{url}{WELL_KNOWN}: no nation")
    return Peer(nation, url.rstrip("/"), keys)
