"""The outbox and its courier: packages wait in the database until their peer takes them.

A package is put in the outbox in the same transaction as the action that sends it, so a
crash loses nothing. The courier signs it afresh at each attempt (its timestamp must be
recent when it arrives; its id never changes, so the receiver stores it once), posts it
to the peer's inbox, and on failure retries with exponential backoff until it is
delivered, refused by the peer (no retry: the same package would be refused again), or
cancelled by an officer.

What is due for one peer travels together (``deliver_many``, and the background loop):
several packages per request to the peer's batch inbox, each still its own signed
package, checked and answered on its own by the peer; every package's outcome is then
written in one transaction. Nothing goes to a peer before its pending key rotation notice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, bindparam, select, update

from gsoia.audit.log import AuditLog, AuditTransaction, TreeHead
from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Kind, batch_bytes, make_package_bytes
from gsoia.federation.peers import Peer
from gsoia.store.database import writing
from gsoia.store.schema import outbox

MAX_BACKOFF = dt.timedelta(minutes=5)
BATCH_PACKAGES = 250
"""Packages posted to a peer's batch inbox in one request, at most."""
BATCH_BYTES = 4 * 1024 * 1024
"""Bytes posted to a peer's batch inbox in one request, at most (but for one package)."""
SINGLE_ONLY = 600.0
"""Seconds a peer that has no batch inbox is sent each package alone before asking again."""
log = logging.getLogger("gsoia.courier")
_JSON = {"content-type": "application/json"}
_NDJSON = {"content-type": "application/x-ndjson"}


class State:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Attempt:
    package_id: str
    state: str
    detail: str | None = None


@dataclass(frozen=True)
class _Outcome:
    """What one attempt at an outbox row came to: delivered, failed (refused), or pending."""

    row: Any
    state: str
    reason: str | None = None
    unreachable: bool = False
    """The peer did not answer at all (no point in posting it more now)."""


_BY_ID = select(outbox).where(outbox.c.package_id == bindparam("package_id"))
_BY_IDS = select(outbox).where(outbox.c.package_id.in_(bindparam("ids", expanding=True)))
_ROTATION_PENDING = (
    select(outbox.c.package_id)
    .where(outbox.c.peer == bindparam("peer"))
    .where(outbox.c.kind == Kind.ROTATION.value)
    .where(outbox.c.state == State.PENDING)
    .limit(1)
)
_MARK_DELIVERED = (
    update(outbox)
    .where(outbox.c.package_id == bindparam("p"))
    .values(
        state=State.DELIVERED,
        attempts=bindparam("n"),
        delivered_at=bindparam("at"),
        last_error=None,
    )
)
_MARK_FAILED = (
    update(outbox)
    .where(outbox.c.package_id == bindparam("p"))
    .values(state=State.FAILED, attempts=bindparam("n"), last_error=bindparam("e"))
)
_MARK_RETRY = (
    update(outbox)
    .where(outbox.c.package_id == bindparam("p"))
    .where(outbox.c.state == State.PENDING)
    .values(attempts=bindparam("n"), next_attempt_at=bindparam("due"), last_error=bindparam("e"))
)
_NOT_BEFORE_NOW = (
    update(outbox)
    .where(outbox.c.peer == bindparam("to_peer"))
    .where(outbox.c.state == State.PENDING)
    .where(outbox.c.next_attempt_at > bindparam("now"))
    .values(next_attempt_at=bindparam("now"))
)


_INSERT = outbox.insert()


def outbox_row(
    *,
    package_id: str,
    kind: Kind,
    peer: str,
    body: dict[str, Any],
    item_id: str | None,
    now: str,
) -> dict[str, Any]:
    """A package as the outbox keeps it until it is delivered (``enqueue_many``)."""
    return {
        "package_id": package_id,
        "peer": peer,
        "kind": kind.value,
        "item_id": item_id,
        "payload": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "state": State.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "delivered_at": None,
        "last_error": None,
    }


def enqueue(
    connection: Connection,
    *,
    package_id: str,
    kind: Kind,
    peer: str,
    body: dict[str, Any],
    item_id: str | None,
    now: str,
) -> None:
    """Put a package in the outbox (inside the caller's transaction)."""
    enqueue_many(
        connection,
        [
            outbox_row(
                package_id=package_id, kind=kind, peer=peer, body=body, item_id=item_id, now=now
            )
        ],
    )


def enqueue_many(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Put packages (``outbox_row``) in the outbox, in one statement (caller's transaction)."""
    if rows:
        connection.execute(_INSERT, rows)


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


class Courier:
    """Delivers the outbox of one node; ``start()`` runs it in a background thread."""

    def __init__(
        self,
        *,
        nation: str,
        keys: NodeKeys,
        audit: AuditLog,
        peer: Callable[[str], Peer | None],
        clock: Callable[[], dt.datetime],
        on_delivered: Callable[[Connection, Any], None],
        counted: Callable[[str], None] = lambda state: None,
        timeout: float = 10.0,
        signer: Callable[[str], Ed25519PrivateKey] | None = None,
    ) -> None:
        self.counted = counted
        self.signer = signer
        """The key to sign a package for a peer; default: the node's (see key rotation)."""
        self.nation = nation
        self.keys = keys
        self.audit = audit
        self.peer = peer
        self.clock = clock
        self.on_delivered = on_delivered
        self._timeout = timeout
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()
        self._busy: set[str] = set()
        self._single_only: dict[str, float] = {}
        """Peers (by URL) without a batch inbox, until when (``time.monotonic``)."""
        self._busy_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def http(self) -> httpx.Client:
        """The client deliveries are posted with, built on first use: building one loads
        every CA certificate (~50-100 ms here), and most nodes opened deliver nothing."""
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout)
            return self._http

    @http.setter
    def http(self, client: httpx.Client) -> None:
        with self._http_lock:
            self._http = client

    # -- claims: one attempt at a time per package -------------------------------------------

    def claim(self, package_ids: Iterable[str]) -> list[str]:
        """Mark the packages no other thread is delivering as this caller's; those marked.

        A caller that claimed packages delivers them (``deliver_many(claimed=True)``) or
        gives them back (``unclaim``); the background loop leaves them alone meanwhile.
        """
        with self._busy_lock:
            free = [p for p in dict.fromkeys(package_ids) if p not in self._busy]
            self._busy.update(free)
        return free

    def unclaim(self, package_ids: Iterable[str]) -> None:
        with self._busy_lock:
            self._busy.difference_update(package_ids)

    # -- one package ----------------------------------------------------------------------

    def deliver(self, package_id: str) -> Attempt:
        """Try to deliver one pending package now (to the peer's inbox, alone)."""
        deadline = time.monotonic() + 30
        while True:  # one attempt at a time per package; a caller waits for the one under way
            if self.claim([package_id]):
                break
            if time.monotonic() > deadline:
                return Attempt(package_id, State.PENDING, "being delivered")
            time.sleep(0.01)
        try:
            attempt = self._deliver(package_id)
            self.counted(attempt.state)
            return attempt
        finally:
            self.unclaim([package_id])

    def _deliver(self, package_id: str) -> Attempt:
        with self.audit.engine.connect() as connection:
            row = connection.execute(_BY_ID, {"package_id": package_id}).first()
        if row is None or row.state != State.PENDING:
            return Attempt(package_id, row.state if row else "unknown")
        return self._deliver_row(row)

    def _deliver_row(self, row: Any) -> Attempt:
        if row.kind != Kind.ROTATION.value and self._rotation_pending(row.peer):
            return _waiting(row)
        peer = self.peer(row.peer)
        if peer is None:
            return self._settle([_unpinned(row)])[0]
        raw = self._wire(self._key_for(row.peer), row)
        return self._settle([self._post_one(peer, row, raw)])[0]

    def _key_for(self, peer: str) -> Ed25519PrivateKey:
        return self.keys.signing if self.signer is None else self.signer(peer)

    def _wire(self, key: Ed25519PrivateKey, row: Any, head: TreeHead | None = None) -> bytes:
        """The package of an outbox row, signed now, as it is posted, with this node's
        latest signed tree head (``head``, or read now) for the peer to witness."""
        latest = head if head is not None else self.audit.head()
        return make_package_bytes(
            key,
            Kind(row.kind),
            self.nation,
            row.peer,
            json.loads(row.payload),
            self.clock(),
            package_id=row.package_id,
            head=None if latest is None else latest.to_dict(),
        )

    def _post_one(self, peer: Peer, row: Any, raw: bytes) -> _Outcome:
        try:
            response = self.http.post(peer.inbox, content=raw, headers=_JSON)
        except httpx.HTTPError as e:
            return _unreachable(row, peer, e)
        if response.status_code in (200, 201) or _already_received(response):
            return _Outcome(row, State.DELIVERED)
        if 400 <= response.status_code < 500:
            return _Outcome(row, State.FAILED, _problem(response))
        return _Outcome(row, State.PENDING, f"HTTP {response.status_code} from {peer.url}")

    def _rotation_pending(self, peer: str) -> bool:
        with self.audit.engine.connect() as connection:
            waiting = connection.execute(_ROTATION_PENDING, {"peer": peer}).first()
        return waiting is not None

    # -- many packages --------------------------------------------------------------------

    def deliver_many(
        self, package_ids: Sequence[str], *, claimed: bool = False, wait: bool = True
    ) -> dict[str, Attempt]:
        """Try to deliver pending packages now: those due to one peer together, in batches.

        Each peer's packages go to its batch inbox (``BATCH_PACKAGES`` and ``BATCH_BYTES``
        at most per request), in the order they were put in the outbox, after its pending
        key rotation notice (alone, first: what follows is signed with the new key). The
        peer answers for each package; each is marked delivered, refused or to retry, all
        in one transaction. A peer without a batch inbox is sent each package alone.

        Args:
            package_ids: the packages (unknown or settled ones are reported as they are).
            claimed: the caller claimed them all already (``claim``); they are released.
            wait: a package another thread is delivering is waited for (its attempt
                reported); otherwise it is left out of the answer.
        """
        mine = list(dict.fromkeys(package_ids)) if claimed else self.claim(package_ids)
        try:
            attempts = self._deliver_batch(mine) if mine else {}
        finally:
            self.unclaim(mine)
        for attempt in attempts.values():
            self.counted(attempt.state)
        if wait:
            for package_id in package_ids:
                if package_id not in attempts:  # another thread's: wait for its attempt
                    attempts[package_id] = self.deliver(package_id)
        return attempts

    def _deliver_batch(self, package_ids: list[str]) -> dict[str, Attempt]:
        rows: list[Any] = []
        with self.audit.engine.connect() as connection:
            for start in range(0, len(package_ids), 500):
                chunk = package_ids[start : start + 500]
                rows += connection.execute(_BY_IDS, {"ids": chunk}).all()
        found = {row.package_id: row for row in rows}
        attempts = {p: Attempt(p, "unknown") for p in package_ids if p not in found}
        in_order = [found[p] for p in package_ids if p in found]  # as given, then by age
        by_peer: dict[str, list[Any]] = {}
        for row in sorted(in_order, key=lambda r: r.created_at):
            if row.state != State.PENDING:
                attempts[row.package_id] = Attempt(row.package_id, row.state)
            else:
                by_peer.setdefault(row.peer, []).append(row)
        for nation, waiting in by_peer.items():
            for row in waiting:  # a key rotation notice first, alone
                if row.kind == Kind.ROTATION.value:
                    attempts[row.package_id] = self._deliver_row(row)
            rest = [row for row in waiting if row.kind != Kind.ROTATION.value]
            if not rest:
                continue
            if self._rotation_pending(nation):
                attempts |= {row.package_id: _waiting(row) for row in rest}
                continue
            peer = self.peer(nation)
            outcomes = [_unpinned(row) for row in rest] if peer is None else self._send(peer, rest)
            attempts |= {a.package_id: a for a in self._settle(outcomes)}
        return attempts

    def _send(self, peer: Peer, rows: list[Any]) -> list[_Outcome]:
        key = self._key_for(peer.nation)
        head = self.audit.head()  # one head for the batch: its packages show the same
        wires = [(row, self._wire(key, row, head)) for row in rows]
        outcomes: list[_Outcome] = []
        for chunk in _chunks(wires):
            if outcomes and outcomes[-1].unreachable:  # not again now: it is down
                outcomes += [replace(outcomes[-1], row=row) for row, _ in chunk]
            elif len(chunk) == 1 or self._single_only.get(peer.url, 0.0) > time.monotonic():
                outcomes += self._post_each(peer, chunk)
            else:
                outcomes += self._post_batch(peer, chunk)
        return outcomes

    def _post_each(self, peer: Peer, chunk: list[tuple[Any, bytes]]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        for row, raw in chunk:
            if outcomes and outcomes[-1].unreachable:
                outcomes.append(replace(outcomes[-1], row=row))
            else:
                outcomes.append(self._post_one(peer, row, raw))
        return outcomes

    def _post_batch(self, peer: Peer, chunk: list[tuple[Any, bytes]]) -> list[_Outcome]:
        try:
            response = self.http.post(
                peer.inbox_batch, content=batch_bytes(raw for _, raw in chunk), headers=_NDJSON
            )
        except httpx.HTTPError as e:
            return [_unreachable(row, peer, e) for row, _ in chunk]
        if response.status_code in (404, 405):  # a peer without a batch inbox
            self._single_only[peer.url] = time.monotonic() + SINGLE_ONLY
            return self._post_each(peer, chunk)
        if 400 <= response.status_code < 500:  # the batch as a whole (its size …): each alone
            return self._post_each(peer, chunk)
        answers = _batch_answers(response, [row.package_id for row, _ in chunk])
        if answers is None:  # nothing to tell what was taken: all again (delivery is idempotent)
            reason = f"HTTP {response.status_code} from {peer.url}"
            if response.status_code == 200:
                reason = f"an unreadable batch answer from {peer.url}"
            return [_Outcome(row, State.PENDING, reason) for row, _ in chunk]
        return [
            _answered(row, answer, peer) for (row, _), answer in zip(chunk, answers, strict=True)
        ]

    # -- what came of it ------------------------------------------------------------------

    def _settle(self, outcomes: list[_Outcome]) -> list[Attempt]:
        """Mark each package delivered, refused (one transaction, audited) or to retry."""
        final = [o for o in outcomes if o.state != State.PENDING]
        if final:
            self.audit.batched(lambda tx: self._settled(tx, final))
        retries = [o for o in outcomes if o.state == State.PENDING]
        if retries:
            self._retry(retries)
        return [Attempt(o.row.package_id, o.state, o.reason) for o in outcomes]

    def _settled(self, tx: AuditTransaction, outcomes: list[_Outcome]) -> None:
        now = self.audit.now()
        delivered = [o.row for o in outcomes if o.state == State.DELIVERED]
        if delivered:
            tx.connection.execute(
                _MARK_DELIVERED,
                [{"p": r.package_id, "n": r.attempts + 1, "at": now} for r in delivered],
            )
            for row in delivered:
                self.on_delivered(tx.connection, row)
            # the peer answers again: what waits for it need not wait out its backoff
            # (only the packages still backing off: those already due are left as they are)
            for peer in dict.fromkeys(row.peer for row in delivered):
                tx.connection.execute(_NOT_BEFORE_NOW, {"to_peer": peer, "now": now})
            tx.on_commit(self.wake)
        refused = [o for o in outcomes if o.state == State.FAILED]
        if refused:
            tx.connection.execute(
                _MARK_FAILED,
                [{"p": o.row.package_id, "n": o.row.attempts + 1, "e": o.reason} for o in refused],
            )
        for o in outcomes:
            about = {"package": o.row.package_id, "kind": o.row.kind, "to": o.row.peer}
            if o.state == State.DELIVERED:
                tx.append("package.delivered", "courier", about)
            else:
                tx.append("package.refused_by_peer", "courier", about | {"reason": o.reason})

    def _retry(self, outcomes: list[_Outcome]) -> None:
        clock = self.clock()
        with writing(self.audit.engine) as connection:
            connection.execute(
                _MARK_RETRY,
                [
                    {
                        "p": o.row.package_id,
                        "n": o.row.attempts + 1,
                        "due": (clock + backoff(o.row.attempts + 1))
                        .astimezone(dt.UTC)
                        .isoformat(timespec="microseconds"),
                        "e": o.reason,
                    }
                    for o in outcomes
                ],
            )

    # -- the background loop ----------------------------------------------------------------

    def due(self) -> list[str]:
        now = self.clock().astimezone(dt.UTC).isoformat(timespec="microseconds")
        with self.audit.engine.connect() as connection:
            return list(
                connection.execute(
                    select(outbox.c.package_id)
                    .where(outbox.c.state == State.PENDING)
                    .where(outbox.c.next_attempt_at <= now)
                    .order_by(outbox.c.created_at)
                    .limit(500)
                ).scalars()
            )

    def run_due(self) -> int:
        """Attempt every package that is due (but those under way); how many were delivered."""
        attempts = self.deliver_many(self.due(), wait=False)
        return sum(a.state == State.DELIVERED for a in attempts.values())

    def wake(self) -> None:
        self._wake.set()

    def start(self, interval: float = 0.5) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_due()
                except Exception:  # the loop must outlive one bad attempt
                    log.exception("courier: delivery round failed")
                self._wake.wait(interval)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="gsoia-courier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._http_lock:
            if self._http is not None:
                self._http.close()


def _waiting(row: Any) -> Attempt:
    # what follows a key rotation is bound with the new key: the peer must learn it first
    # (not an attempt: no backoff; the loop tries again on its next round)
    return Attempt(row.package_id, State.PENDING, "waits for the key rotation notice")


def _unpinned(row: Any) -> _Outcome:
    return _Outcome(row, State.PENDING, f"{row.peer} is not a pinned peer")


def _unreachable(row: Any, peer: Peer, error: httpx.HTTPError) -> _Outcome:
    return _Outcome(
        row, State.PENDING, f"{peer.url} unreachable: {type(error).__name__}", unreachable=True
    )


def _chunks(wires: list[tuple[Any, bytes]]) -> Iterator[list[tuple[Any, bytes]]]:
    """Consecutive runs of at most ``BATCH_PACKAGES`` packages and ``BATCH_BYTES`` bytes."""
    chunk: list[tuple[Any, bytes]] = []
    size = 0
    for row, raw in wires:
        if chunk and (len(chunk) >= BATCH_PACKAGES or size + len(raw) + 1 > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((row, raw))
        size += len(raw) + 1
    if chunk:
        yield chunk


def _batch_answers(response: httpx.Response, package_ids: list[str]) -> list[dict[str, Any]] | None:
    """The peer's answer for each package of a batch, in order; None if it is not that."""
    if response.status_code != 200:
        return None
    try:
        answers = response.json().get("results")
    except (ValueError, AttributeError):
        return None
    if not isinstance(answers, list) or len(answers) != len(package_ids):
        return None
    for answer, package_id in zip(answers, package_ids, strict=True):
        if (
            not isinstance(answer, dict)
            or answer.get("package") != package_id
            or not isinstance(answer.get("status"), int)
        ):
            return None
    return answers


def _answered(row: Any, answer: dict[str, Any], peer: Peer) -> _Outcome:
    """What the peer's answer for one package of a batch means, as for a package alone."""
    status = answer["status"]
    if status in (200, 201) or (status == 409 and answer.get("reason") == "REPLAY"):
        return _Outcome(row, State.DELIVERED)
    if 400 <= status < 500:
        reason = f"{answer.get('reason', '')}: {answer.get('detail', '')}".strip(": ")
        return _Outcome(row, State.FAILED, reason[:500] or f"HTTP {status}")
    return _Outcome(row, State.PENDING, f"HTTP {status} from {peer.url}")


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('reason', '')}: {body.get('detail', '')}".strip(": ")[:500]
    except ValueError:
        return f"HTTP {response.status_code}"


def _already_received(response: httpx.Response) -> bool:
    """The peer holds this package already: delivered, not refused (delivery is idempotent)."""
    if response.status_code != 409:
        return False
    try:
        return bool(response.json().get("reason") == "REPLAY")
    except ValueError:
        return False
