"""The outbox and its courier: packages wait in the database until their peer takes them.

A package is put in the outbox in the same transaction as the action that sends it, so a
crash loses nothing. The courier signs it afresh at each attempt (its timestamp must be
recent when it arrives; its id never changes, so the receiver stores it once), posts it
to the peer's inbox, and on failure retries with exponential backoff until it is
delivered, refused by the peer (no retry: the same package would be refused again), or
cancelled by an officer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select, update

from gsoia.audit.log import AuditLog, AuditTransaction
from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Kind, make_package
from gsoia.federation.peers import Peer
from gsoia.store.database import writing
from gsoia.store.schema import outbox

MAX_BACKOFF = dt.timedelta(minutes=5)
log = logging.getLogger("gsoia.courier")


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
    connection.execute(
        outbox.insert().values(
            package_id=package_id,
            peer=peer,
            kind=kind.value,
            item_id=item_id,
            payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            state=State.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


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
        self.http = httpx.Client(timeout=timeout)
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one attempt ------------------------------------------------------------------------

    def deliver(self, package_id: str) -> Attempt:
        """Try to deliver one pending package now."""
        deadline = time.monotonic() + 30
        while True:  # one attempt at a time per package; a caller waits for the one under way
            with self._busy_lock:
                if package_id not in self._busy:
                    self._busy.add(package_id)
                    break
            if time.monotonic() > deadline:
                return Attempt(package_id, State.PENDING, "being delivered")
            time.sleep(0.01)
        try:
            attempt = self._deliver(package_id)
            self.counted(attempt.state)
            return attempt
        finally:
            with self._busy_lock:
                self._busy.discard(package_id)

    def _deliver(self, package_id: str) -> Attempt:
        with self.audit.engine.connect() as connection:
            row = connection.execute(
                select(outbox).where(outbox.c.package_id == package_id)
            ).first()
        if row is None or row.state != State.PENDING:
            return Attempt(package_id, row.state if row else "unknown")
        if row.kind != Kind.ROTATION.value and self._rotation_pending(row.peer):
            # what follows a key rotation is bound with the new key: the peer must learn it
            # first (not an attempt: no backoff; the loop tries again on its next round)
            return Attempt(package_id, State.PENDING, "waits for the key rotation notice")
        peer = self.peer(row.peer)
        if peer is None:
            return self._retry(row, f"{row.peer} is not a pinned peer")
        package = make_package(
            self.keys.signing if self.signer is None else self.signer(row.peer),
            Kind(row.kind),
            self.nation,
            row.peer,
            json.loads(row.payload),
            self.clock(),
            package_id=row.package_id,
        )
        try:
            response = self.http.post(
                peer.inbox,
                content=json.dumps(package, ensure_ascii=False).encode("utf-8"),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as e:
            return self._retry(row, f"{peer.url} unreachable: {type(e).__name__}")
        if response.status_code in (200, 201) or _already_received(response):
            return self._delivered(row)
        if 400 <= response.status_code < 500:
            return self._refused(row, _problem(response))
        return self._retry(row, f"HTTP {response.status_code} from {peer.url}")

    def _rotation_pending(self, peer: str) -> bool:
        with self.audit.engine.connect() as connection:
            waiting = connection.execute(
                select(outbox.c.package_id)
                .where(outbox.c.peer == peer)
                .where(outbox.c.kind == Kind.ROTATION.value)
                .where(outbox.c.state == State.PENDING)
                .limit(1)
            ).first()
        return waiting is not None

    def _delivered(self, row: Any) -> Attempt:
        def delivered(tx: AuditTransaction) -> None:
            tx.connection.execute(
                update(outbox)
                .where(outbox.c.package_id == row.package_id)
                .values(
                    state=State.DELIVERED,
                    attempts=row.attempts + 1,
                    delivered_at=self.audit.now(),
                    last_error=None,
                )
            )
            self.on_delivered(tx.connection, row)
            # the peer answers again: what waits for it need not wait out its backoff
            # (only the packages still backing off: those already due are left as they are)
            now = self.audit.now()
            tx.connection.execute(
                update(outbox)
                .where(outbox.c.peer == row.peer)
                .where(outbox.c.state == State.PENDING)
                .where(outbox.c.next_attempt_at > now)
                .values(next_attempt_at=now)
            )
            tx.on_commit(self.wake)
            tx.append(
                "package.delivered",
                "courier",
                {"package": row.package_id, "kind": row.kind, "to": row.peer},
            )

        self.audit.batched(delivered)
        return Attempt(row.package_id, State.DELIVERED)

    def _refused(self, row: Any, reason: str) -> Attempt:
        with self.audit.transaction() as tx:
            tx.connection.execute(
                update(outbox)
                .where(outbox.c.package_id == row.package_id)
                .values(state=State.FAILED, attempts=row.attempts + 1, last_error=reason)
            )
            tx.append(
                "package.refused_by_peer",
                "courier",
                {"package": row.package_id, "kind": row.kind, "to": row.peer, "reason": reason},
            )
        return Attempt(row.package_id, State.FAILED, reason)

    def _retry(self, row: Any, reason: str) -> Attempt:
        attempts = row.attempts + 1
        due = self.clock() + backoff(attempts)
        with writing(self.audit.engine) as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.package_id == row.package_id)
                .where(outbox.c.state == State.PENDING)
                .values(
                    attempts=attempts,
                    next_attempt_at=due.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                    last_error=reason,
                )
            )
        return Attempt(row.package_id, State.PENDING, reason)

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
        """Attempt every package that is due; returns how many were delivered."""
        return sum(self.deliver(p).state == State.DELIVERED for p in self.due())

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
        self.http.close()


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
