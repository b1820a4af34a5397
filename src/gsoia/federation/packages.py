"""Packages between nodes: their shape, how they are signed, and how they are checked.

A package is one JSON object: ``{"gsoia": 1, "id", "kind", "from", "to", "created", "body",
"signature"}``. The signature is Ed25519 by the sender's node key over
``b"gsoia-package-v1\\n" + canonical_json(package without "signature")`` (RFC 8785), so
what is signed never depends on how the wire JSON was written.

``open_package`` runs the checks every package must pass, in this order, each refusal a
``PackageRejected`` with a reason code: shape, recipient, pinned sender, signature,
timestamp window. Replay (a package id seen before) and what a kind's body must satisfy
are checked by the receiving node, which holds that state. A peer may post several
packages in one request (``split_batch``: one per line); each is checked alone, exactly
as if it had been posted alone.

Two signatures outlive the package that carries them, and are checked with every key the
signer ever used (``verify_any``; a rotation retires keys, it does not void what they
signed): the originator's written consent (``make_grant``) and the originator's seal of
an item (``gsoia.crypto.signing.origin_message``). A key rotation (``Kind.ROTATION``)
travels as a package signed by the node's *old* key, carrying the new public keys and a
proof that the holder of the new signing key asked for it (``rotation_proof_bytes``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature, CryptoError
from gsoia.crypto.keys import PublicKeys
from gsoia.crypto.signing import sign, verify, verify_any
from gsoia.errors import GsoiaError

PACKAGE_VERSION = 1
WINDOW = dt.timedelta(minutes=10)
"""How far a package's timestamp may be from the receiver's clock."""
MAX_PACKAGE = 16 * 1024 * 1024
MAX_BATCH = 1000
"""Packages in one batch (``split_batch``)."""
MAX_BATCH_BYTES = 12 * 1024 * 1024
"""Bytes of one batch (a node's HTTP body limit: ``gsoia.api.app.MAX_BODY``)."""


class Kind(StrEnum):
    RELEASE = "release"
    CONSENT_REQUEST = "consent_request"
    CONSENT_REPLY = "consent_reply"
    INCIDENT = "incident"
    RECLASSIFY = "reclassify"
    ROTATION = "key_rotation"
    HEAD = "head"
    """Only the sender's signed tree head, for a partner it sent nothing to lately."""
    ASSURANCE = "assurance"
    ASSURANCE_AMENDED = "assurance_amended"
    ASSURANCE_WITHDRAWN = "assurance_withdrawn"
    VISIT_REQUEST = "visit_request"
    VISIT_ANSWER = "visit_answer"
    VISIT_CANCELLED = "visit_cancelled"
    VISIT_MORE_ASKED = "visit_more_asked"
    """The host asks the visiting party for more on a request (it may amend it)."""
    VISIT_ENDED = "visit_ended"
    """The host ends an approved visit before its last day."""
    VISITOR_REMOVED = "visitor_removed"
    """The host's admin removed one visitor's account of an approved visit."""
    ONWARD = "onward_release"
    """A custodian's release of the originator's item to a third party, told to it."""
    INCIDENT_STEP = "incident_step"
    """An incident acknowledged, under investigation or closed, told to the originator."""


class Rejection(StrEnum):
    """Why a package was refused (the receiver's reason code)."""

    MALFORMED = "MALFORMED"
    OVERSIZE = "OVERSIZE"
    WRONG_RECIPIENT = "WRONG_RECIPIENT"
    UNKNOWN_PEER = "UNKNOWN_PEER"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    STALE = "STALE"
    REPLAY = "REPLAY"
    BAD_BINDING = "BAD_BINDING"
    BAD_SEAL = "BAD_SEAL"
    NOT_ORIGINATOR = "NOT_ORIGINATOR"
    NO_CONSENT = "NO_CONSENT"
    REFUSED = "REFUSED"
    """The release decision (rules 1-5) refuses the receiving nation."""
    UNKNOWN_ITEM = "UNKNOWN_ITEM"
    BAD_ROTATION = "BAD_ROTATION"
    """A key rotation whose old keys are not the pinned ones, or whose proof is bad."""
    BAD_HEAD = "BAD_HEAD"
    """The sender's signed tree head in the package is malformed or not signed by it."""
    WITNESS_ALARM = "WITNESS_ALARM"
    """The sender showed two histories of its log; nothing is accepted from it until an
    officer acknowledges the alarm."""
    UNKNOWN_VISIT = "UNKNOWN_VISIT"
    """An assurance or a visit the sender has no part in here (or none of that id)."""


class PackageRejected(GsoiaError):
    """A package failed a check; nothing of it is stored.

    ``anonymous`` is True when no pinned peer's signature vouches for what was refused:
    a batch that is not one, or a package refused by ``open_package`` before its signature
    was verified (shape, recipient, pinned sender, signature). Its sender is then not
    authenticated: anyone could have sent it. Every other refusal is of a package a pinned
    peer signed.
    """

    def __init__(
        self,
        reason: Rejection,
        detail: str,
        package_id: str | None = None,
        *,
        anonymous: bool = False,
    ) -> None:
        self.reason = reason
        self.detail = _unicode(detail)
        self.package_id = None if package_id is None else _unicode(package_id)
        self.anonymous = anonymous
        self.receipt: dict[str, Any] | None = None
        """A release received before: its receipt, answered again with the refusal."""
        super().__init__(f"package refused ({reason.value}): {self.detail}")


def _unicode(text: str) -> str:
    """``text`` with any lone surrogate (not Unicode: JSON can carry one) spelt ``\\udxxx``.

    What a refusal says is written to the audit log and answered as JSON: both need text.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class PeerUnreachable(GsoiaError):
    """A peer could not be reached or answered with an error."""


Nation = Annotated[StrictStr, Field(min_length=1, max_length=32)]


class Package(BaseModel):
    """A package as it travels (its shape only; ``open_package`` checks the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gsoia: Literal[1]
    id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    kind: Kind
    sender: Nation = Field(alias="from")
    to: Nation
    created: Annotated[StrictStr, Field(max_length=40)]
    body: dict[str, Any]
    head: dict[str, Any] | None = None
    """The sender's latest signed audit tree head when it signed the package (``size``,
    ``root``, ``signature``, ``at``): what its partners witness (``audit.witness``)."""
    signature: Annotated[StrictStr, Field(max_length=200)]

    def unsigned(self) -> dict[str, Any]:
        unsigned = {
            "gsoia": self.gsoia,
            "id": self.id,
            "kind": self.kind.value,
            "from": self.sender,
            "to": self.to,
            "created": self.created,
            "body": self.body,
        }
        if self.head is not None:
            unsigned["head"] = self.head
        return unsigned


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: Any, field: str) -> bytes:
    """Strict base64url (no padding) or ``PackageRejected(MALFORMED)`` naming the field."""
    if not isinstance(text, str):
        raise PackageRejected(Rejection.MALFORMED, f"{field}: not a string")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise PackageRejected(Rejection.MALFORMED, f"{field}: not base64url") from e
    if b64(data) != text:
        raise PackageRejected(Rejection.MALFORMED, f"{field}: not canonical base64url")
    return data


_SIGNED_PREFIX = b"gsoia-package-v1\n"


def signed_bytes(unsigned: Mapping[str, Any]) -> bytes:
    return _SIGNED_PREFIX + canonical_json(dict(unsigned))


def make_package(
    key: Ed25519PrivateKey,
    kind: Kind,
    sender: str,
    to: str,
    body: dict[str, Any],
    created: dt.datetime,
    package_id: str | None = None,
    head: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A signed package, ready to send as JSON (``head``: the sender's signed tree head)."""
    unsigned = _unsigned(kind, sender, to, body, created, package_id, head)
    return unsigned | {"signature": b64(sign(key, signed_bytes(unsigned)))}


def make_package_bytes(
    key: Ed25519PrivateKey,
    kind: Kind,
    sender: str,
    to: str,
    body: dict[str, Any],
    created: dt.datetime,
    package_id: str | None = None,
    head: dict[str, Any] | None = None,
) -> bytes:
    """``make_package`` as it is posted: the canonical JSON signed, with its signature."""
    message = signed_bytes(_unsigned(kind, sender, to, body, created, package_id, head))
    signature = b64(sign(key, message)).encode("ascii")
    # INVARIANT: the canonical form of an object ends with its closing brace
    return message[len(_SIGNED_PREFIX) : -1] + b',"signature":"' + signature + b'"}'


def _unsigned(
    kind: Kind,
    sender: str,
    to: str,
    body: dict[str, Any],
    created: dt.datetime,
    package_id: str | None,
    head: dict[str, Any] | None = None,
) -> dict[str, Any]:
    unsigned = {
        "gsoia": PACKAGE_VERSION,
        "id": package_id or str(uuid.uuid4()),
        "kind": kind.value,
        "from": sender,
        "to": to,
        "created": created.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
        "body": body,
    }
    if head is not None:
        unsigned["head"] = head
    return unsigned


def parse_package(raw: bytes) -> Package:
    """The package's shape, or ``PackageRejected(MALFORMED|OVERSIZE)``."""
    if len(raw) > MAX_PACKAGE:
        raise PackageRejected(Rejection.OVERSIZE, f"{len(raw)} bytes, over {MAX_PACKAGE}")
    if b"\\u0000" in raw:
        raise PackageRejected(Rejection.MALFORMED, "NUL characters are not accepted")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise PackageRejected(Rejection.MALFORMED, "not JSON") from e
    if not isinstance(data, dict):
        raise PackageRejected(Rejection.MALFORMED, "a package is a JSON object")
    try:
        return Package.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        place = ".".join(str(p) for p in first["loc"]) or "package"
        raise PackageRejected(Rejection.MALFORMED, f"{place}: {first['msg']}", _id_of(data)) from e
    except RecursionError as e:
        raise PackageRejected(Rejection.MALFORMED, "nested too deeply", _id_of(data)) from e


def batch_bytes(packages: Iterable[bytes]) -> bytes:
    """Packages, each its JSON on one line (as ``json.dumps`` and ``canonical_json`` write
    it, without indent: a newline in a string is escaped), as one batch (``split_batch``).

    Raises:
        ValueError: a package spans several lines.
    """
    lines = []
    for raw in packages:
        if b"\n" in raw:
            raise ValueError("a package in a batch is written on one line")
        lines.append(raw + b"\n")
    return b"".join(lines)


def split_batch(raw: bytes) -> list[bytes]:
    """The packages of a batch, each as it would be posted alone; ``PackageRejected`` else.

    A batch is newline-delimited JSON: one package per line (written without indent, a
    package holds no raw newline), at most ``MAX_BATCH`` of them, the last line ending or
    not in a newline. Each line is then checked by ``open_package`` exactly as a package
    posted alone (an empty line is a malformed package).
    """
    if len(raw) > MAX_BATCH_BYTES:
        raise PackageRejected(
            Rejection.OVERSIZE, f"batch: {len(raw)} bytes, over {MAX_BATCH_BYTES}", anonymous=True
        )
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise PackageRejected(
            Rejection.MALFORMED, "batch: no package (one JSON per line)", anonymous=True
        )
    if len(lines) > MAX_BATCH:
        raise PackageRejected(
            Rejection.OVERSIZE, f"batch: {len(lines)} packages, over {MAX_BATCH}", anonymous=True
        )
    return lines


def _id_of(data: Mapping[str, Any]) -> str | None:
    value = data.get("id")
    return value[:64] if isinstance(value, str) else None


def open_package(
    raw: bytes,
    *,
    me: str,
    peer_keys: Mapping[str, bytes],
    now: dt.datetime,
    window: dt.timedelta = WINDOW,
) -> Package:
    """Check a received package up to its signature and timestamp (see module docstring).

    Args:
        raw: the request body.
        me: this node's nation.
        peer_keys: the pinned Ed25519 public key (raw) of each peer nation.
        now: the receiver's clock.

    A refusal before the signature is verified is ``anonymous``.
    """
    try:
        package = _signed_by_a_peer(raw, me, peer_keys)
    except PackageRejected as e:
        e.anonymous = True
        raise
    return _timely(package, now, window)


def _signed_by_a_peer(raw: bytes, me: str, peer_keys: Mapping[str, bytes]) -> Package:
    """The package in ``raw``, addressed to ``me`` and signed by a pinned peer's key."""
    package = parse_package(raw)
    if package.to != me:
        raise PackageRejected(
            Rejection.WRONG_RECIPIENT, f"addressed to {package.to}, not {me}", package.id
        )
    key = peer_keys.get(package.sender)
    if key is None:
        raise PackageRejected(
            Rejection.UNKNOWN_PEER, f"{package.sender} is not a pinned peer", package.id
        )
    try:
        message = signed_bytes(package.unsigned())
    except (TypeError, ValueError, RecursionError) as e:  # floats, huge ints, lone surrogates
        raise PackageRejected(
            Rejection.MALFORMED, f"not in the signed JSON subset: {e}"[:300], package.id
        ) from e
    try:
        signature = unb64(package.signature, "signature")
    except PackageRejected as e:
        e.package_id = package.id
        raise
    try:
        verify(key, message, signature)
    except BadSignature as e:
        raise PackageRejected(
            Rejection.BAD_SIGNATURE,
            f"not signed by {package.sender}'s pinned key",
            package.id,
        ) from e
    return package


def _timely(package: Package, now: dt.datetime, window: dt.timedelta) -> Package:
    """``package`` if its timestamp is within ``window`` of ``now``."""
    try:
        created = dt.datetime.fromisoformat(package.created)
    except ValueError as e:
        raise PackageRejected(Rejection.MALFORMED, "created: not a timestamp", package.id) from e
    if created.tzinfo is None:
        raise PackageRejected(Rejection.MALFORMED, "created: no time zone", package.id)
    if abs(now - created) > window:
        raise PackageRejected(
            Rejection.STALE,
            f"created {package.created}, outside ±{int(window.total_seconds())} s of"
            f" {now.astimezone(dt.UTC).isoformat(timespec='seconds')}",
            package.id,
        )
    return package


def created_at(package: Package) -> dt.datetime:
    return dt.datetime.fromisoformat(package.created)


# -- the originator's written consent ---------------------------------------------------


def consent_bytes(grant: Mapping[str, Any]) -> bytes:
    unsigned = {k: v for k, v in grant.items() if k != "signature"}
    return b"gsoia-consent-v1\n" + canonical_json(unsigned)


def make_grant(
    key: Ed25519PrivateKey,
    *,
    item: str,
    originator: str,
    custodian: str,
    to: str,
    granted_by: str,
    granted_at: str,
) -> dict[str, Any]:
    """The originator's signed consent that ``custodian`` may release ``item`` to ``to``."""
    grant = {
        "item": item,
        "originator": originator,
        "custodian": custodian,
        "to": to,
        "granted_by": granted_by,
        "granted_at": granted_at,
    }
    return grant | {"signature": b64(sign(key, consent_bytes(grant)))}


GRANT_FIELDS = ("item", "originator", "custodian", "to", "granted_by", "granted_at", "signature")


def check_grant(grant: Any, originator_keys: bytes | Iterable[bytes]) -> dict[str, str]:
    """A consent grant with a good signature by the originator, or ``PackageRejected``.

    ``originator_keys``: its pinned key, or its pinned key and the keys it retired.
    """
    keys: Iterable[bytes] = (
        (originator_keys,) if isinstance(originator_keys, bytes) else originator_keys
    )
    if not isinstance(grant, dict) or sorted(grant) != sorted(GRANT_FIELDS):
        raise PackageRejected(Rejection.MALFORMED, "a consent grant has the wrong fields")
    if not all(isinstance(grant[k], str) for k in GRANT_FIELDS):
        raise PackageRejected(Rejection.MALFORMED, "a consent grant's fields are text")
    try:
        verify_any(keys, consent_bytes(grant), unb64(grant["signature"], "grant"))
    except BadSignature as e:
        raise PackageRejected(
            Rejection.NO_CONSENT, f"the consent is not signed by {grant['originator']}"
        ) from e
    return dict(grant)


# -- key rotation -------------------------------------------------------------------------


def rotation_proof_bytes(nation: str, package_id: str, old: PublicKeys, new: PublicKeys) -> bytes:
    """What the *new* signing key signs: that it takes over from ``old`` in this package."""
    return b"gsoia-rotation-v1\n" + canonical_json(
        {
            "nation": nation,
            "package": package_id,
            "old": old.fingerprint(),
            "new": new.fingerprint(),
        }
    )


def make_rotation_body(
    new_signing: Ed25519PrivateKey,
    *,
    nation: str,
    package_id: str,
    old: PublicKeys,
    new: PublicKeys,
    rotated_at: str,
) -> dict[str, Any]:
    """The body of a rotation package; the package itself is signed by the old key."""
    proof = sign(new_signing, rotation_proof_bytes(nation, package_id, old, new))
    return {
        "old": old.to_dict(),
        "new": new.to_dict(),
        "rotated_at": rotated_at,
        "proof": b64(proof),
    }


ROTATION_FIELDS = ("new", "old", "proof", "rotated_at")


def check_rotation(package: Package, pinned: PublicKeys) -> PublicKeys:
    """The new keys a rotation package announces, or ``PackageRejected``.

    The package's signature was checked against ``pinned`` (the sender's old keys) by
    ``open_package``; here: the old keys named are the pinned ones, the new ones differ,
    and the new signing key proves it asked for this rotation in this very package.
    """
    body = package.body
    if sorted(body) != sorted(ROTATION_FIELDS) or not isinstance(body["rotated_at"], str):
        raise PackageRejected(
            Rejection.MALFORMED, f"body: a rotation has the fields {', '.join(ROTATION_FIELDS)}"
        )
    try:
        old = PublicKeys.from_dict(body["old"])
        new = PublicKeys.from_dict(body["new"])
    except CryptoError as e:
        raise PackageRejected(Rejection.MALFORMED, f"body: {e}") from e
    if old != pinned:
        raise PackageRejected(
            Rejection.BAD_ROTATION,
            f"the old keys {old.fingerprint()} are not {package.sender}'s pinned keys"
            f" {pinned.fingerprint()}",
        )
    if new.signing == old.signing or new.sealing == old.sealing:
        raise PackageRejected(Rejection.BAD_ROTATION, "the new keys are the old ones")
    proof = unb64(body["proof"], "body.proof")
    try:
        verify(new.signing, rotation_proof_bytes(package.sender, package.id, old, new), proof)
    except BadSignature as e:
        raise PackageRejected(
            Rejection.BAD_ROTATION, "the new signing key did not sign this rotation"
        ) from e
    return new


__all__ = [
    "Kind",
    "Package",
    "PackageRejected",
    "PeerUnreachable",
    "Rejection",
    "batch_bytes",
    "check_grant",
    "check_rotation",
    "make_grant",
    "make_package",
    "make_package_bytes",
    "make_rotation_body",
    "open_package",
    "rotation_proof_bytes",
    "split_batch",
]
