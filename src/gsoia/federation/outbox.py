"""The outbox: each package's row until its peer takes it, and the statements that move
it through its states, each guarded by the state it expects.

A package is put in the outbox (``enqueue``, ``enqueue_many``) in the same transaction as
the action that sends it. Every process and host of a node may deliver it: it is claimed
first (``CLAIM``: a conditional UPDATE only one process wins; ``claimed_by`` names the
host, process and boot), and marked delivered, refused or due again only from pending
(``MARK_DELIVERED``, ``MARK_FAILED``) or by the claim's holder (``MARK_RETRY``). A release
the peer took without a receipt this node could verify is ``unacknowledged``
(``MARK_UNACKNOWLEDGED``): delivered, and posted again, with backoff, for its receipt
(the peer answers a package it holds with its receipt again) until one verifies. A claim
expires (``CLAIM_FOR``): a process killed while it delivered holds its packages no longer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select, update

from gsoia.federation.packages import Kind
from gsoia.store.postgres import NOTIFY_OUTBOX
from gsoia.store.schema import outbox

MAX_BACKOFF = dt.timedelta(minutes=5)
CLAIM_FOR = dt.timedelta(minutes=2)
"""How long a claim on a package holds: a process that died delivering it holds it no
longer (``GSOIA_CLAIM_SECONDS`` in the environment of ``gsoia serve`` overrides it)."""
CLAIM_SECONDS = "GSOIA_CLAIM_SECONDS"


class State:
    PENDING = "pending"
    DELIVERED = "delivered"
    UNACKNOWLEDGED = "unacknowledged"
    """A release delivered, without a verified receipt yet: posted again for it."""
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (State.PENDING, State.UNACKNOWLEDGED)
"""The states the courier posts a package in: to deliver, or for its receipt."""


@dataclass(frozen=True)
class Claim:
    """A claim on packages: who holds them (a token of its own) and until when."""

    by: str
    until: str

    def columns(self) -> dict[str, str]:
        """The outbox columns of a package put in the outbox already claimed."""
        return {"claimed_by": self.by, "claimed_until": self.until}


IS_ACTIVE = or_(*(outbox.c.state == state for state in ACTIVE))
"""A package in one of the ``ACTIVE`` states (no expanding IN: executemany takes it)."""
BY_ID = select(outbox).where(outbox.c.package_id == bindparam("package_id"))
BY_IDS = select(outbox).where(outbox.c.package_id.in_(bindparam("ids", expanding=True)))
ROTATION_PENDING = (
    select(outbox.c.package_id)
    .where(outbox.c.peer == bindparam("peer"))
    .where(outbox.c.kind == Kind.ROTATION.value)
    .where(outbox.c.state == State.PENDING)
    .limit(1)
)
UNCLAIMED = or_(outbox.c.claimed_by.is_(None), outbox.c.claimed_until < bindparam("now"))
"""No process holds the package now: never claimed, released, or its claim expired."""
CLAIM = (
    update(outbox)
    .where(outbox.c.package_id.in_(bindparam("ids", expanding=True)))
    .where(IS_ACTIVE)
    .where(UNCLAIMED)
    .values(claimed_by=bindparam("by"), claimed_until=bindparam("until"))
    .returning(outbox.c.package_id)
)
UNCLAIM = (
    update(outbox)
    .where(outbox.c.package_id.in_(bindparam("ids", expanding=True)))
    .where(outbox.c.claimed_by == bindparam("by"))
    .values(claimed_by=None, claimed_until=None)
)
MARK_DELIVERED = (  # only from pending or unacknowledged: never a package cancelled, or
    # settled by another
    update(outbox)
    .where(outbox.c.package_id.in_(bindparam("ids", expanding=True)))
    .where(IS_ACTIVE)
    .values(
        state=State.DELIVERED,
        attempts=outbox.c.attempts + 1,
        delivered_at=func.coalesce(outbox.c.delivered_at, bindparam("at")),
        last_error=None,
        claimed_by=None,
        claimed_until=None,
    )
    .returning(outbox.c.package_id)
)
MARK_FAILED = (
    update(outbox)
    .where(outbox.c.package_id == bindparam("p"))
    .where(outbox.c.state == State.PENDING)
    .values(
        state=State.FAILED,
        attempts=outbox.c.attempts + 1,
        last_error=bindparam("e"),
        claimed_by=None,
        claimed_until=None,
    )
    .returning(outbox.c.package_id)
)
MARK_UNACKNOWLEDGED = (  # delivered, its receipt missing or refused: due again for it
    update(outbox)
    .where(outbox.c.package_id == bindparam("p"))
    .where(IS_ACTIVE)
    .values(
        state=State.UNACKNOWLEDGED,
        attempts=outbox.c.attempts + 1,
        delivered_at=func.coalesce(outbox.c.delivered_at, bindparam("at")),
        next_attempt_at=bindparam("due"),
        last_error=bindparam("e"),
        claimed_by=None,
        claimed_until=None,
    )
    .returning(outbox.c.package_id)
)
MARK_RETRY = (  # only by the claim's holder: another may hold it now (this one expired)
    update(outbox)
    .where(outbox.c.package_id == bindparam("p"))
    .where(IS_ACTIVE)
    .where(outbox.c.claimed_by == bindparam("by"))
    .values(
        attempts=bindparam("n"),
        next_attempt_at=bindparam("due"),
        last_error=bindparam("e"),
        claimed_by=None,
        claimed_until=None,
    )
)
DUE = (
    select(outbox.c.package_id)
    .where(IS_ACTIVE)
    .where(outbox.c.next_attempt_at <= bindparam("now"))
    .where(UNCLAIMED)
    .order_by(outbox.c.created_at)
    .limit(500)
)
HOLDERS = (
    select(outbox.c.claimed_by)
    .where(IS_ACTIVE)
    .where(outbox.c.claimed_by.is_not(None))
    .where(outbox.c.claimed_until >= bindparam("now"))
    .distinct()
)
RELEASE_DEAD = (
    update(outbox)
    .where(IS_ACTIVE)
    .where(outbox.c.claimed_by.in_(bindparam("dead", expanding=True)))
    .values(claimed_by=None, claimed_until=None)
)
NEXT_DUE = select(
    func.min(
        case(
            (
                and_(outbox.c.claimed_by.is_not(None), outbox.c.claimed_until >= bindparam("now")),
                outbox.c.claimed_until,
            ),
            else_=outbox.c.next_attempt_at,
        )
    )
).where(IS_ACTIVE)
"""When the courier has something to try next: a package due, or a claim expiring."""
NOT_BEFORE_NOW = (
    update(outbox)
    .where(outbox.c.peer == bindparam("to_peer"))
    .where(outbox.c.state == State.PENDING)
    .where(outbox.c.next_attempt_at > bindparam("now"))
    .values(next_attempt_at=bindparam("now"))
)


INSERT = outbox.insert()


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
        "claimed_by": None,
        "claimed_until": None,
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
        connection.execute(INSERT, rows)
        if any(r["claimed_by"] is None for r in rows):
            tell_courier(connection)


def tell_courier(connection: Connection) -> None:
    """Have the leading courier look at the outbox again once this transaction commits:
    packages it may deliver, or whose time changed (PostgreSQL: it may run in another
    process, on another host; SQLite: it looks every half second anyway)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(NOTIFY_OUTBOX)


def boot_id() -> str:
    """This machine's boot, as Linux names it (so a claim's holder names its machine and
    boot as well as its process); empty elsewhere."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip().replace("-", "")[:8]
    except OSError:
        return ""


def dead_here(holder: str, owner: str) -> bool:
    """A claim ``holder`` held by a process of this machine's boot that no longer runs."""
    host, _, rest = holder.partition(":")
    pid, _, rest = rest.partition(":")
    boot = rest.partition(":")[0]
    mine = owner.split(":")
    if host != mine[0] or boot != mine[2] or not boot or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def claim_period() -> dt.timedelta:
    """``CLAIM_FOR``, or the seconds ``GSOIA_CLAIM_SECONDS`` says (a positive number)."""
    given = os.environ.get(CLAIM_SECONDS)
    if not given:
        return CLAIM_FOR
    try:
        seconds = float(given)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86_400:
        raise ValueError(f"{CLAIM_SECONDS}: '{given}' is not a number of seconds (0 to 86400)")
    return dt.timedelta(seconds=seconds)


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)
