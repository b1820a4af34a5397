"""A simulated partner node for attack tests, after python-tuf's ``RepositorySimulator``.

``PeerSimulator`` is an in-process node of one nation (CAN, USA, UKR …) with its own freshly
generated keys. It builds valid packages of every kind for a real receiving node, sealed to
the receiver's published X25519 key and signed with its own Ed25519 key, exactly as a
``gsoia`` node would. An attack test then changes exactly one thing:

* ``Draft.modify(fn)``: the sender changes the package before it signs (``fn`` edits the
  unsigned package in place), so the package signature is good and the check under test
  is the one behind it (binding, seal, consent, decision …);
* ``Draft.tamper(fn)``: a man in the middle changes the signed package in transit;
* ``Draft.signed(key=…)``: another key signs.

Each item the simulator originates carries its originator's seal (``gsoia.node.origin``),
made with the originator's key (``sealed_by``, default the sender's own: a custodian
passing on another nation's item passes on that nation's seal, ``seal_of``). A simulator
can rotate its keys (``rotation``, then ``adopt``), as ``gsoia keys rotate`` does.

``SimulatorServer`` serves each simulator's ``/.well-known/gsoia`` (so the real node can pin
it with ``gsoia peer add``) and an inbox that keeps what the real node sends, which the
simulator can open (``PeerSimulator.open``) like a real peer would.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gsoia.crypto import aead
from gsoia.crypto.keys import NodeKeys, PublicKeys
from gsoia.crypto.seal import seal, unseal
from gsoia.crypto.signing import binding_message, digest, sign
from gsoia.federation.packages import (
    Kind,
    Package,
    b64,
    make_grant,
    make_rotation_body,
    open_package,
    signed_bytes,
    unb64,
)
from gsoia.federation.peers import INBOX, WELL_KNOWN, identity
from gsoia.node import origin
from tests.receipts import receipt_for_package

Edit = Callable[[dict[str, Any]], object]

LEVEL = {
    "CAN": "S",
    "USA": "S",
    "GBR": "S",
    "UKR": "T",
    "KOR": "II",
    "NZL": "S",
    "AUS": "S",
    "JPN": "GOKUHI",
}
"""A level of each simulated nation's policy that has an equivalent in Japan's."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def flip(text: str, bit: int = 0) -> str:
    """``text`` (base64url) with one bit of its bytes flipped."""
    data = bytearray(unb64(text, "flip"))
    data[bit // 8] ^= 1 << (bit % 8)
    return b64(bytes(data))


@dataclass
class Draft:
    """A package being made: ``modify`` before signing, ``tamper`` after."""

    sender: PeerSimulator
    unsigned: dict[str, Any]
    _in_transit: list[Edit] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.unsigned["id"])

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.unsigned["body"]
        return body

    def modify(self, fn: Edit) -> Draft:
        """The sender changes the package; it is signed afterwards (``fn`` edits in place)."""
        fn(self.unsigned)
        return self

    def tamper(self, fn: Edit) -> Draft:
        """The package is changed after it was signed (``fn`` edits the signed package)."""
        self._in_transit.append(fn)
        return self

    def signed(self, key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
        """The package as it travels: signed by ``key`` (default: the sender's), tampered."""
        unsigned = copy.deepcopy(self.unsigned)
        signature = sign(key or self.sender.keys.signing, signed_bytes(unsigned))
        package = unsigned | {"signature": b64(signature)}
        for fn in self._in_transit:
            fn(package)
        return package


class PeerSimulator:
    """A partner node of ``nation`` that sends packages to the node of ``receiver``."""

    def __init__(
        self,
        nation: str,
        receiver: str,
        receiver_keys: PublicKeys,
        keys: NodeKeys | None = None,
    ) -> None:
        self.nation = nation
        self.receiver = receiver
        self.receiver_keys = receiver_keys
        self.keys = keys or NodeKeys.generate()
        self.url = ""
        """Where ``SimulatorServer`` serves this node (set when it is served)."""
        self.received: list[bytes] = []
        """The packages the real node posted to this simulator's inbox."""
        self.answer: Callable[[bytes], tuple[int, dict[str, Any]]] = self.stored
        """How its inbox answers a package posted to it (default: ``stored``)."""
        self.originated: dict[str, tuple[dict[str, Any], bytes]] = {}
        """The items this simulator released as their originator, and their content."""

    @property
    def public(self) -> PublicKeys:
        return self.keys.public()

    def identity(self) -> dict[str, Any]:
        return identity(self.nation, self.public)

    # -- any package ------------------------------------------------------------------------

    def draft(
        self,
        kind: Kind,
        body: dict[str, Any],
        *,
        package_id: str | None = None,
        created: dt.datetime | None = None,
    ) -> Draft:
        """A package of ``kind`` from this node to the receiver, not yet signed."""
        return Draft(
            self,
            {
                "gsoia": 1,
                "id": package_id or str(uuid.uuid4()),
                "kind": kind.value,
                "from": self.nation,
                "to": self.receiver,
                "created": iso(created or utc_now()),
                "body": body,
            },
        )

    # -- release ----------------------------------------------------------------------------

    def item(self, **changes: Any) -> dict[str, Any]:
        """A fresh item of this nation, releasable to the receiver, as a release carries it."""
        fields: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "title": f"{self.nation} patrol report",
            "originator": self.nation,
            "classification": LEVEL.get(self.nation, "S"),
            "area": "maritime",
            "releasable_to": [self.receiver],
            "need_to_know": [],
            "created_at": iso(utc_now()),
            "created_by": f"{self.nation.lower()}-analyst",
        }
        return fields | changes

    def release(
        self,
        item: dict[str, Any] | None = None,
        content: bytes = b"sealed content",
        *,
        grants: Iterable[dict[str, Any]] = (),
        seal_to: bytes | None = None,
        package_id: str | None = None,
        created: dt.datetime | None = None,
        sealed_by: Ed25519PrivateKey | None = None,
        origin_seal: bytes | None = None,
    ) -> Draft:
        """A release of ``item`` (default: a fresh one of this nation), as ``_release_body``.

        The content is encrypted under a fresh key with the package id as AAD; that key is
        sealed to the receiver (or to ``seal_to``) with the package id as context; the
        sender's binding signs the item and the ciphertext's SHA-384. The originator's seal
        (``origin_seal``, default: made now by ``sealed_by``, default this node's key, over
        the item and content) travels encrypted under the content key.
        """
        package_id = package_id or str(uuid.uuid4())
        key = aead.new_key()
        item = item if item is not None else self.item()
        if item["originator"] == self.nation:
            self.originated[item["id"]] = (item, content)
        if origin_seal is None:
            origin_seal = origin.make_seal(sealed_by or self.keys.signing, item, content)
        body: dict[str, Any] = {
            "item": item,
            "custodian": self.nation,
            "grants": list(grants),
            "sealed_key": b64(
                seal(seal_to or self.receiver_keys.sealing, key, package_id.encode())
            ),
            "ciphertext": b64(aead.encrypt(key, content, aad=package_id.encode())),
            "content_sha384": "",
            "binding": "",
            "origin_seal": origin.close_with_content_key(key, origin_seal, package_id),
        }
        self.rebind(body)
        return self.draft(Kind.RELEASE, body, package_id=package_id, created=created)

    def seal_of(self, item: dict[str, Any], content: bytes = b"sealed content") -> bytes:
        """This node's seal, as originator, of ``item`` and ``content``."""
        return origin.make_seal(self.keys.signing, item, content)

    def rebind(self, body: dict[str, Any], key: Ed25519PrivateKey | None = None) -> None:
        """Recompute a release body's digest and binding over its item and ciphertext."""
        content_digest = digest(unb64(body["ciphertext"], "ciphertext"))
        body["content_sha384"] = content_digest.hex()
        message = binding_message(body["item"], content_digest)
        body["binding"] = b64(sign(key or self.keys.signing, message))

    def grant(
        self,
        item_id: str,
        *,
        custodian: str,
        to: str,
        key: Ed25519PrivateKey | None = None,
    ) -> dict[str, Any]:
        """This node's written consent, as the originator, to a third-party release."""
        return make_grant(
            key or self.keys.signing,
            item=item_id,
            originator=self.nation,
            custodian=custodian,
            to=to,
            granted_by=f"{self.nation.lower()}-officer",
            granted_at=iso(utc_now()),
        )

    # -- notices ----------------------------------------------------------------------------

    def consent_request(self, item_id: str, to: str, **changes: Any) -> Draft:
        body = {
            "request": str(uuid.uuid4()),
            "item": item_id,
            "to": to,
            "custodian": self.nation,
            "requested_by": f"{self.nation.lower()}-analyst",
        }
        return self.draft(Kind.CONSENT_REQUEST, body | changes)

    def consent_reply(
        self, item_id: str, to: str, *, custodian: str | None = None, **changes: Any
    ) -> Draft:
        """A granted consent (with this node's grant), as the originator's node sends it."""
        body = {
            "request": None,
            "item": item_id,
            "to": to,
            "granted": True,
            "grant": self.grant(item_id, custodian=custodian or self.receiver, to=to),
        }
        return self.draft(Kind.CONSENT_REPLY, body | changes)

    def incident(self, item_id: str, **changes: Any) -> Draft:
        body = {
            "incident": str(uuid.uuid4()),
            "item": item_id,
            "kind": "compromise",
            "description": "a laptop was stolen",
            "reported_by": f"{self.nation.lower()}-analyst",
            "reported_at": utc_now().isoformat(timespec="microseconds"),
        }
        return self.draft(Kind.INCIDENT, body | changes)

    def reclassify(
        self, item_id: str, classification: str, *, sealed_by: Ed25519PrivateKey | None = None
    ) -> Draft:
        """The originator's notice of a new classification, with its new seal.

        The seal is made over the item as this simulator released it (any item else: a
        seal of nothing in particular, for a notice refused before its seal is read).
        """
        package_id = str(uuid.uuid4())
        item, content = self.originated.get(item_id, (self.item(id=item_id), b""))
        signature = origin.make_seal(
            sealed_by or self.keys.signing, item | {"classification": classification}, content
        )
        body = {
            "item": item_id,
            "classification": classification,
            "origin_seal": origin.close_for_custodian(
                self.receiver_keys.sealing, signature, package_id
            ),
        }
        return self.draft(Kind.RECLASSIFY, body, package_id=package_id)

    # -- key rotation -----------------------------------------------------------------------

    def rotation(
        self,
        new: NodeKeys,
        *,
        proof_key: Ed25519PrivateKey | None = None,
        old: PublicKeys | None = None,
        package_id: str | None = None,
    ) -> Draft:
        """A rotation to ``new`` keys, as ``gsoia keys rotate`` announces it.

        The draft is signed (``Draft.signed``) with this simulator's current (old) key;
        ``proof_key`` (default the new signing key) signs the proof; ``old`` the old keys
        it names (default the current ones).
        """
        package_id = package_id or str(uuid.uuid4())
        body = make_rotation_body(
            proof_key or new.signing,
            nation=self.nation,
            package_id=package_id,
            old=old or self.public,
            new=new.public(),
            rotated_at=iso(utc_now()),
        )
        return self.draft(Kind.ROTATION, body, package_id=package_id)

    def adopt(self, new: NodeKeys) -> NodeKeys:
        """Use ``new`` keys from now on (after the receiver took the rotation); the old."""
        old, self.keys = self.keys, new
        return old

    # -- what the real node sends -----------------------------------------------------------

    def stored(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """The inbox's answer to a package it takes: a release with its receipt."""
        if json.loads(raw).get("kind") != Kind.RELEASE.value:
            return 200, {"status": "stored"}
        return 200, {"status": "stored", "receipt": self.receipt(raw)}

    def receipt(self, raw: bytes) -> dict[str, Any]:
        """This node's signed receipt for a release posted to it (``tests.receipts``)."""
        return receipt_for_package(self.keys.signing, raw, self.nation)

    def open(self, raw: bytes, sender_signing: bytes) -> tuple[Package, bytes | None]:
        """Check a package from the real node as a peer would; a release's content too."""
        package = open_package(
            raw, me=self.nation, peer_keys={self.receiver: sender_signing}, now=utc_now()
        )
        if package.kind != Kind.RELEASE:
            return package, None
        context = package.id.encode()
        key = unseal(self.keys.sealing, unb64(package.body["sealed_key"], "sealed_key"), context)
        ciphertext = unb64(package.body["ciphertext"], "ciphertext")
        return package, aead.decrypt(key, ciphertext, aad=context)


class SimulatorServer:
    """One loopback HTTP server for several simulators, each under ``/<nation>/``."""

    def __init__(self) -> None:
        self.simulators: dict[str, PeerSimulator] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def serve(self, simulator: PeerSimulator) -> PeerSimulator:
        simulator.url = f"{self.url}/{simulator.nation.lower()}"
        self.simulators[simulator.nation.lower()] = simulator
        return simulator

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _simulator(self) -> tuple[PeerSimulator | None, str]:
                prefix, _, rest = self.path.lstrip("/").partition("/")
                return server.simulators.get(prefix), "/" + rest

            def do_GET(self) -> None:
                simulator, path = self._simulator()
                if simulator is None or path != WELL_KNOWN:
                    self._reply(404, {"detail": "not found"})
                    return
                self._reply(200, simulator.identity())

            def do_POST(self) -> None:
                simulator, path = self._simulator()
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                if simulator is None or path != INBOX:
                    self._reply(404, {"detail": "not found"})
                    return
                with server._lock:
                    simulator.received.append(raw)
                self._reply(*simulator.answer(raw))

            def _reply(self, status: int, document: dict[str, Any]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[SimulatorServer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
