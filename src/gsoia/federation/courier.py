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

Every process and host of a node may deliver: a package is claimed in the database before
it is posted (``claimed_by``, ``claimed_until``: a conditional UPDATE only one process wins),
and every later change of its state is guarded by the state it expects, so two processes
never both post it while the claim holds, and a package cancelled is never marked
delivered. A claim expires (``CLAIM_FOR``): a process killed while it delivered holds its
packages no longer than that, then another posts them again (the receiver refuses a second
copy as a replay, which counts as delivered).

The claims are ``federation.claims``'s; what came of each posting is written down by
``federation.settlement``; how the answers are read, by ``federation.posting``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection

from gsoia.audit.log import AuditLog, AuditTransaction, TreeHead
from gsoia.crypto.keys import NodeKeys
from gsoia.federation.acknowledgements import Acknowledgements
from gsoia.federation.carried import HEADER, ShownHeads
from gsoia.federation.claims import Claims, stamp
from gsoia.federation.outbox import (
    ACTIVE,
    BY_ID,
    BY_IDS,
    CLAIM_FOR,
    CLAIM_SECONDS,
    DUE,
    MAX_BACKOFF,
    NEXT_DUE,
    ROTATION_PENDING,
    Claim,
    State,
    backoff,
    claim_period,
    enqueue,
    enqueue_many,
    outbox_row,
    tell_courier,
)
from gsoia.federation.packages import Kind, batch_bytes, make_package_bytes
from gsoia.federation.peers import Peer
from gsoia.federation.posting import (
    BATCH_BYTES,
    BATCH_PACKAGES,
    JSON,
    NDJSON,
    Attempt,
    Outcome,
    answered,
    awaiting_rotation,
    batch_answers,
    chunks,
    delivered,
    problem_of,
    unpinned,
    unreachable,
)
from gsoia.federation.settlement import Settlement

SINGLE_ONLY = 600.0
"""Seconds a peer that has no batch inbox is sent each package alone before asking again."""
log = logging.getLogger("gsoia.courier")


class Leader(Protocol):
    """Which one process of a node runs the delivery loop (``Courier.start``)."""

    def acquire(self) -> bool:
        """Whether this process leads now (taking the lead if no process holds it)."""

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for news of packages put in the outbox."""

    def release(self) -> None:
        """Give the lead up."""


LEADER_RETRY = 1.0
"""Seconds a process that does not lead waits before it tries to take the lead again."""
IDLE = 5.0
"""Seconds the leading process waits at most for news when nothing is due before (a
package set back to pending by hand, a notice lost while the lead changed hands)."""


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
        claim_for: dt.timedelta | None = None,
        heads: bool = True,
        acknowledgements: Acknowledgements | None = None,
        on_settled: Callable[[AuditTransaction, list[Outcome], str], None] | None = None,
    ) -> None:
        self.counted = counted
        self.heads = heads
        """Whether packages carry this node's head (off: the node's ``witnessing`` setting)."""
        self.signer = signer
        """The key to sign a package for a peer; default: the node's (see key rotation)."""
        self.nation = nation
        self.keys = keys
        self.audit = audit
        self.peer = peer
        self.clock = clock
        self._timeout = timeout
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()
        self.claims = Claims(
            audit.engine,
            lambda: self.clock(),
            claim_for if claim_for is not None else claim_period(),
        )
        """This process's claims on packages."""
        self.settlement = Settlement(
            audit=audit,
            clock=lambda: self.clock(),
            claims=self.claims,
            on_delivered=on_delivered,
            wake=self.wake,
            acknowledgements=acknowledgements,
            on_settled=on_settled,
        )
        """Marks what came of each posting."""
        self.shown = ShownHeads(nation, audit)
        """The head each peer holds of this node's log: the proof to it goes with a batch."""
        self._single_only: dict[str, float] = {}
        """Peers (by URL) without a batch inbox, until when (``time.monotonic``)."""
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

    # -- claims: one attempt at a time per package, across processes and hosts -----------

    @property
    def claim_for(self) -> dt.timedelta:
        """How long a claim holds (``CLAIM_FOR``, or ``GSOIA_CLAIM_SECONDS``)."""
        return self.claims.claim_for

    @claim_for.setter
    def claim_for(self, period: dt.timedelta) -> None:
        self.claims.claim_for = period

    def new_claim(self) -> Claim:
        """A claim of this process's, from now (``Claims.new_claim``)."""
        return self.claims.new_claim()

    def hold(self, claim: Claim, package_ids: Iterable[str]) -> None:
        """Packages committed to the outbox with ``claim``: this caller's to deliver."""
        self.claims.hold(claim, package_ids)

    def claim(self, package_ids: Iterable[str]) -> list[str]:
        """Claim the pending packages no process holds; those claimed (``Claims.claim``).
        A caller that claimed packages delivers them (``deliver_many(claimed=True)``) or
        gives them back (``unclaim``)."""
        return self.claims.claim(package_ids)

    def unclaim(self, package_ids: Iterable[str]) -> None:
        """Give back this process's claims on these packages (those it still holds)."""
        self.claims.unclaim(package_ids)

    def release_dead(self) -> int:
        """Free the claims of this machine's processes that died (``Claims.release_dead``)."""
        return self.claims.release_dead()

    # -- one package ----------------------------------------------------------------------

    def deliver(self, package_id: str) -> Attempt:
        """Try to deliver one pending package now (to the peer's inbox, alone).

        A package another thread or process is delivering is waited for (30 s at most):
        its state then is the answer, or this caller's own attempt if it is still pending.
        """
        deadline = time.monotonic() + 30
        while not self.claim([package_id]):
            with self.audit.engine.connect() as connection:
                row = connection.execute(BY_ID, {"package_id": package_id}).first()
            if row is None or row.state not in ACTIVE:
                return Attempt(package_id, row.state if row else "unknown")
            if time.monotonic() > deadline:
                return Attempt(package_id, State.PENDING, "being delivered")
            time.sleep(0.05)
        try:
            attempt = self._deliver(package_id)
            self.counted(attempt.state)
            return attempt
        finally:
            self.unclaim([package_id])

    def _deliver(self, package_id: str) -> Attempt:
        with self.audit.engine.connect() as connection:
            row = connection.execute(BY_ID, {"package_id": package_id}).first()
        if row is None or row.state not in ACTIVE:
            return Attempt(package_id, row.state if row else "unknown")
        return self._deliver_row(row)

    def _deliver_row(self, row: Any) -> Attempt:
        if row.kind != Kind.ROTATION.value and self._rotation_pending(row.peer):
            return awaiting_rotation(row)
        peer = self.peer(row.peer)
        if peer is None:
            return self.settlement.settle([unpinned(row)])[0]
        raw = self._wire(self._key_for(row.peer), row)
        return self.settlement.settle([self._post_one(peer, row, raw)])[0]

    def _key_for(self, peer: str) -> Ed25519PrivateKey:
        return self.keys.signing if self.signer is None else self.signer(peer)

    def _wire(self, key: Ed25519PrivateKey, row: Any, head: TreeHead | None = None) -> bytes:
        """The package of an outbox row, signed now, as it is posted, with this node's
        latest signed tree head (``head``, or read now) for the peer to witness."""
        latest = None if not self.heads else head if head is not None else self.audit.head()
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

    def _post_one(
        self, peer: Peer, row: Any, raw: bytes, extra: Mapping[str, str] | None = None
    ) -> Outcome:
        try:
            response = self.http.post(peer.inbox, content=raw, headers=JSON | dict(extra or {}))
        except httpx.HTTPError as e:
            return unreachable(row, peer, e)
        taken = delivered(response)
        if taken is not None:
            return replace(taken, row=row)
        if 400 <= response.status_code < 500:
            return Outcome(row, State.FAILED, problem_of(response))
        return Outcome(row, State.PENDING, f"HTTP {response.status_code} from {peer.url}")

    def _rotation_pending(self, peer: str) -> bool:
        with self.audit.engine.connect() as connection:
            waiting = connection.execute(ROTATION_PENDING, {"peer": peer}).first()
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
                rows += connection.execute(BY_IDS, {"ids": chunk}).all()
        found = {row.package_id: row for row in rows}
        attempts = {p: Attempt(p, "unknown") for p in package_ids if p not in found}
        in_order = [found[p] for p in package_ids if p in found]  # as given, then by age
        by_peer: dict[str, list[Any]] = {}
        for row in sorted(in_order, key=lambda r: r.created_at):
            if row.state not in ACTIVE:
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
                attempts |= {row.package_id: awaiting_rotation(row) for row in rest}
                continue
            peer = self.peer(nation)
            outcomes = [unpinned(row) for row in rest] if peer is None else self._send(peer, rest)
            attempts |= {a.package_id: a for a in self.settlement.settle(outcomes)}
        return attempts

    def _send(self, peer: Peer, rows: list[Any]) -> list[Outcome]:
        key = self._key_for(peer.nation)
        if not self.heads:
            return self._post_chunks(peer, [(row, self._wire(key, row)) for row in rows], {})
        with self.shown.showing(peer.nation, self.audit.head) as showing:  # one for the batch
            if showing is None:  # an empty log: no head to show
                return self._post_chunks(peer, [(row, self._wire(key, row)) for row in rows], {})
            wires = [(row, self._wire(key, row, showing.head)) for row in rows]
            carried = showing.carried
            extra = {} if carried is None else {HEADER: carried.header()}
            outcomes = self._post_chunks(peer, wires, extra)
            if any(o.state == State.DELIVERED for o in outcomes):
                self.shown.taken(peer.nation, showing.head)
        return outcomes

    def _post_chunks(
        self, peer: Peer, wires: list[tuple[Any, bytes]], extra: Mapping[str, str]
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for chunk in chunks(wires):
            if outcomes and outcomes[-1].unreachable:  # not again now: it is down
                outcomes += [replace(outcomes[-1], row=row) for row, _ in chunk]
            elif len(chunk) == 1 or self._single_only.get(peer.url, 0.0) > time.monotonic():
                outcomes += self._post_each(peer, chunk, extra)
            else:
                outcomes += self._post_batch(peer, chunk, extra)
        return outcomes

    def _post_each(
        self, peer: Peer, chunk: list[tuple[Any, bytes]], extra: Mapping[str, str]
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for row, raw in chunk:
            if outcomes and outcomes[-1].unreachable:
                outcomes.append(replace(outcomes[-1], row=row))
            else:
                outcomes.append(self._post_one(peer, row, raw, extra))
        return outcomes

    def _post_batch(
        self, peer: Peer, chunk: list[tuple[Any, bytes]], extra: Mapping[str, str]
    ) -> list[Outcome]:
        try:
            response = self.http.post(
                peer.inbox_batch,
                content=batch_bytes(raw for _, raw in chunk),
                headers=NDJSON | dict(extra),
            )
        except httpx.HTTPError as e:
            return [unreachable(row, peer, e) for row, _ in chunk]
        if response.status_code in (404, 405):  # a peer without a batch inbox
            self._single_only[peer.url] = time.monotonic() + SINGLE_ONLY
            return self._post_each(peer, chunk, extra)
        if 400 <= response.status_code < 500:  # the batch as a whole (its size …): each alone
            return self._post_each(peer, chunk, extra)
        answers = batch_answers(response, [row.package_id for row, _ in chunk])
        if answers is None:  # nothing to tell what was taken: all again (delivery is idempotent)
            reason = f"HTTP {response.status_code} from {peer.url}"
            if response.status_code == 200:
                reason = f"an unreadable batch answer from {peer.url}"
            return [Outcome(row, State.PENDING, reason) for row, _ in chunk]
        return [
            answered(row, answer, peer) for (row, _), answer in zip(chunk, answers, strict=True)
        ]

    # -- the background loop ----------------------------------------------------------------

    def due(self) -> list[str]:
        """Pending packages due now that no process holds, oldest first (500 at most)."""
        now = stamp(self.clock())
        with self.audit.engine.connect() as connection:
            return list(connection.execute(DUE, {"now": now}).scalars())

    def next_due_in(self) -> float:
        """Seconds until a package is due or a claim expires (``IDLE`` at most)."""
        now = self.clock()
        with self.audit.engine.connect() as connection:
            first = connection.execute(NEXT_DUE, {"now": stamp(now)}).scalar()
        if first is None:
            return IDLE
        seconds = (dt.datetime.fromisoformat(first) - now).total_seconds()
        return min(max(seconds, 0.05), IDLE)

    def run_due(self) -> int:
        """Attempt every package that is due (but those under way); how many were delivered."""
        self.release_dead()
        attempts = self.deliver_many(self.due(), wait=False)
        return sum(a.state == State.DELIVERED for a in attempts.values())

    def wake(self) -> None:
        self._wake.set()

    def start(self, interval: float = 0.5, leader: Leader | None = None) -> None:
        """Deliver what is due in a background thread.

        Without ``leader``, a round every ``interval`` seconds, or as soon as woken. With
        one, only while this process leads: woken by the leader's news of packages put in
        the outbox (any process's), or when the next package is due or claim expires.
        """

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    if leader is not None and not leader.acquire():
                        self._stop.wait(LEADER_RETRY)
                        continue
                    self.run_due()
                except Exception:  # the loop must outlive one bad attempt
                    log.exception("courier: delivery round failed")
                if leader is None:
                    self._wake.wait(interval)
                else:
                    self._await_news(leader, interval)
                self._wake.clear()
            if leader is not None:
                leader.release()

        self._thread = threading.Thread(target=loop, name="gsoia-courier", daemon=True)
        self._thread.start()

    def _await_news(self, leader: Leader, interval: float) -> None:
        try:
            deadline = time.monotonic() + self.next_due_in()
        except Exception:
            log.exception("courier: cannot tell when a package is due next")
            deadline = time.monotonic() + interval
        while not self._stop.is_set() and not self._wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                if leader.wait(min(left, 0.25)):  # slices: this process's own wake too
                    return
            except Exception:
                log.exception("courier: waiting for news failed")
                self._stop.wait(min(left, interval))
                return

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._http_lock:
            if self._http is not None:
                self._http.close()


__all__ = [
    "BATCH_BYTES",
    "BATCH_PACKAGES",
    "CLAIM_FOR",
    "CLAIM_SECONDS",
    "MAX_BACKOFF",
    "Attempt",
    "Claim",
    "Courier",
    "Leader",
    "State",
    "backoff",
    "enqueue",
    "enqueue_many",
    "outbox_row",
    "tell_courier",
]
