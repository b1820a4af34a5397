"""Heads for every partner, on a timer: idle nodes are witnessed too, and gossip travels.

Every package carries the sender's signed tree head, so partners that exchange packages
witness each other as they go. Each partner this node sent no ``head`` package to for
``witness_interval_seconds`` (a node setting; 0: never) is sent one, busy or idle: it
carries the head every package carries, and its body the heads this node holds of its
other partners (``gossip``), for the partner to compare with its own. The courier
delivers it as any other. It is not written to the audit log (its delivery is), and a
partner that receives it changes nothing but the heads it holds (or raises an alarm).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from gsoia.federation.courier import Courier, State, enqueue_many, outbox_row
from gsoia.federation.packages import Kind
from gsoia.node.exchange.peers import PeerBook
from gsoia.store.database import writing
from gsoia.store.schema import outbox

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")
LONGEST_WAIT = 60.0
"""Seconds at most between two looks at which partners are due a head."""


Gossiped = Callable[[str], dict[str, Any]]
"""``body(nation)``: the body of a ``head`` package to ``nation`` (``Gossip.body_for``)."""


class HeadRounds:
    """Sends a ``head`` package to each partner sent none for the node's interval."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier, body: Gossiped) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier
        self.body = body
        self.interval = node.config.witness_interval_seconds if node.config.witnessing else 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> list[str]:
        """The pinned partners no ``head`` package was put in the outbox for within the
        interval, and none still waits for (a partner that is down gets one head, not one a
        round)."""
        since = self.node.clock() - dt.timedelta(seconds=self.interval)
        with self.node.engine.connect() as connection:
            latest = dict(
                connection.execute(
                    select(outbox.c.peer, func.max(outbox.c.created_at))
                    .where(outbox.c.kind == Kind.HEAD.value)
                    .group_by(outbox.c.peer)
                ).all()
            )
            waiting = set(
                connection.execute(
                    select(outbox.c.peer)
                    .where(outbox.c.state == State.PENDING, outbox.c.kind == Kind.HEAD.value)
                    .distinct()
                ).scalars()
            )
        cut = since.astimezone(dt.UTC).isoformat(timespec="microseconds")
        return [
            nation
            for nation in (peer["nation"] for peer in self.peers.listed())
            if nation not in waiting and (latest.get(nation) is None or latest[nation] < cut)
        ]

    def send(self) -> list[str]:
        """Put a ``head`` package in the outbox for each partner due one; their nations."""
        due = self.due()
        if not due:
            return []
        now = self.node.audit.now()
        rows = [
            outbox_row(
                package_id=str(uuid.uuid4()),
                kind=Kind.HEAD,
                peer=nation,
                body=self.body(nation),
                item_id=None,
                now=now,
            )
            for nation in due
        ]
        with writing(self.node.engine) as connection:
            enqueue_many(connection, rows)
        self.courier.wake()
        return due

    def start(self) -> None:
        """Send heads in a background thread while the node serves (not if the interval
        is 0)."""
        if self.interval <= 0 or self._thread is not None:
            return

        def loop() -> None:
            wait = float(self.interval)  # a node just started has said nothing yet: wait
            while not self._stop.wait(wait):
                wait = min(self.interval, LONGEST_WAIT)
                try:
                    self.send()
                except Exception:  # the next round tries again
                    log.exception("witness: heads not sent this round")

        self._thread = threading.Thread(target=loop, name="gsoia-heads", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
