"""Asking a partner for a consistency proof of its log, and answering such a request.

A witness holding a partner's head of M entries, shown a head of N, needs the proof that
one tree is a prefix of the other. It asks the partner, ``GET
/federation/v1/audit/consistency?first=&second=``, with three headers: ``Gsoia-From`` (its
nation), ``Gsoia-Created`` (now, ISO 8601) and ``Gsoia-Signature`` (base64url Ed25519 by
its node key over ``b"gsoia-proof-request-v1\\n"`` and the canonical JSON of ``from``,
``to``, ``first``, ``second``, ``created``). The answer needs no signature: a proof checks
against the two signed heads, or it does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import sign, verify
from gsoia.errors import GsoiaError
from gsoia.federation.packages import WINDOW, PackageRejected, Rejection, b64, unb64

CONSISTENCY = "/federation/v1/audit/consistency"
HELD_HEAD = "/federation/v1/witness/head"
"""The head a partner holds of the asking node's log (``gsoia audit verify --witness``)."""
MAX_PROOF = 64
"""Hashes in a consistency proof of any log this side of 2**63 entries, and then some."""


class ProofUnavailable(GsoiaError):
    """The partner could not be asked, or did not answer with a proof (``refused``: it
    answered, and said it has none: a log shorter than a head it signed)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        self.refused = refused
        super().__init__(reason)


def request_message(
    sender: str, to: str, first: int, second: int, created: str, what: str = "consistency"
) -> bytes:
    """The signed bytes of a request to a partner's log: a consistency proof (``what``
    ``consistency``), or the head it holds of the sender's log (``held-head``, sizes 0)."""
    fields = {"from": sender, "to": to, "first": first, "second": second, "created": created}
    if what != "consistency":
        fields["what"] = what
    return b"gsoia-proof-request-v1\n" + canonical_json(fields)


def request_headers(
    key: Ed25519PrivateKey,
    sender: str,
    to: str,
    first: int,
    second: int,
    now: dt.datetime,
    what: str = "consistency",
) -> dict[str, str]:
    created = now.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    signature = sign(key, request_message(sender, to, first, second, created, what))
    return {"Gsoia-From": sender, "Gsoia-Created": created, "Gsoia-Signature": b64(signature)}


def check_request(
    headers: Mapping[str, str],
    *,
    me: str,
    peer_keys: Mapping[str, bytes],
    first: int,
    second: int,
    now: dt.datetime,
    what: str = "consistency",
) -> str:
    """The pinned peer that signed this request; ``PackageRejected`` otherwise."""
    sender = headers.get("gsoia-from", "")
    key = peer_keys.get(sender)
    if key is None:
        raise PackageRejected(
            Rejection.UNKNOWN_PEER, f"'{sender[:32]}' is not a pinned peer", anonymous=True
        )
    created = headers.get("gsoia-created", "")
    try:
        at = dt.datetime.fromisoformat(created)
    except ValueError as e:
        raise PackageRejected(
            Rejection.MALFORMED, "Gsoia-Created is not a time", anonymous=True
        ) from e
    if at.tzinfo is None or abs(now - at) > WINDOW:
        raise PackageRejected(Rejection.STALE, "the request's time is out of the window")
    signature = unb64(headers.get("gsoia-signature", ""), "Gsoia-Signature")
    try:
        verify(key, request_message(sender, me, first, second, created, what), signature)
    except BadSignature as e:
        raise PackageRejected(
            Rejection.BAD_SIGNATURE, f"not signed by {sender}'s pinned key", anonymous=True
        ) from e
    return sender


def fetch_consistency(
    client: httpx.Client,
    url: str,
    headers: Mapping[str, str],
    first: int,
    second: int,
) -> list[bytes]:
    """The partner's consistency proof from ``first`` entries to ``second``;
    ``ProofUnavailable`` if it cannot be had."""
    try:
        response = client.get(
            url.rstrip("/") + CONSISTENCY,
            params={"first": first, "second": second},
            headers=dict(headers),
        )
    except httpx.HTTPError as e:
        raise ProofUnavailable(f"cannot reach {url}: {type(e).__name__}") from e
    if response.status_code == 422:
        raise ProofUnavailable(
            f"{url} has no proof from {first} entries to {second}: {_detail(response)}",
            refused=True,
        )
    if response.status_code != 200:
        raise ProofUnavailable(f"HTTP {response.status_code} from {url}: {_detail(response)}")
    try:
        path = response.json()["consistency_path"]
        proof = [bytes.fromhex(h) for h in path]
    except (ValueError, KeyError, TypeError) as e:
        raise ProofUnavailable(f"{url} answered no proof") from e
    if len(proof) > MAX_PROOF or any(len(h) != 32 for h in proof):
        raise ProofUnavailable(f"{url} answered a proof of the wrong shape")
    return proof


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:200]
    except ValueError:
        return ""


def fetch_held_head(
    client: httpx.Client, url: str, headers: Mapping[str, str]
) -> dict[str, Any] | None:
    """The head the partner at ``url`` holds of the asking node's log (None: it holds
    none); ``ProofUnavailable`` if it cannot be had."""
    try:
        response = client.get(url.rstrip("/") + HELD_HEAD, headers=dict(headers))
    except httpx.HTTPError as e:
        raise ProofUnavailable(f"cannot reach {url}: {type(e).__name__}") from e
    if response.status_code != 200:
        raise ProofUnavailable(f"HTTP {response.status_code} from {url}: {_detail(response)}")
    try:
        head = response.json()["head"]
    except (ValueError, KeyError, TypeError) as e:
        raise ProofUnavailable(f"{url} answered no head") from e
    if head is not None and not isinstance(head, dict):
        raise ProofUnavailable(f"{url} answered no head")
    return head
