"""Claims on outbox packages: one attempt at a time per package, across processes and hosts.

Every process and host of a node may deliver: a package is claimed in the database before
it is posted (``claimed_by``, ``claimed_until``: a conditional UPDATE only one process
wins). A claim names its holder (``host:pid:boot``, then a claim's own id) and expires
(``CLAIM_FOR``): a process killed while it delivered holds its packages no longer than
that; one of this machine and boot known dead is freed at once (``release_dead``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import Engine

from gsoia.federation.outbox import (
    CLAIM,
    HOLDERS,
    RELEASE_DEAD,
    UNCLAIM,
    Claim,
    boot_id,
    dead_here,
    tell_courier,
)
from gsoia.store.database import writing

log = logging.getLogger("gsoia.courier")


def stamp(at: dt.datetime) -> str:
    """A time as the outbox's columns hold it."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


class Claims:
    """The claims of this process: taken and given back in the database, and remembered
    here (so that threads of one process do not ask the database to compete)."""

    def __init__(
        self, engine: Engine, clock: Callable[[], dt.datetime], claim_for: dt.timedelta
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.claim_for = claim_for
        """How long a claim holds (``CLAIM_FOR``, or ``GSOIA_CLAIM_SECONDS``)."""
        self.owner = f"{socket.gethostname()[:20]}:{os.getpid()}:{boot_id()}"
        """Who claims: host, process and boot (``host:pid:boot``, then a claim's own id)."""
        self.held: dict[str, str] = {}
        """The packages this process claimed, and the claim's token ("": being claimed)."""
        self._lock = threading.Lock()

    def new_claim(self) -> Claim:
        """A claim of this process's, from now (for packages put in the outbox claimed:
        ``Claim.columns`` in their rows, then ``hold``)."""
        token = f"{self.owner}:{uuid.uuid4().hex[:12]}"
        return Claim(token, stamp(self.clock() + self.claim_for))

    def hold(self, claim: Claim, package_ids: Iterable[str]) -> None:
        """Packages committed to the outbox with ``claim``: this caller's to deliver."""
        with self._lock:
            for package_id in package_ids:
                self.held[package_id] = claim.by

    def claim(self, package_ids: Iterable[str]) -> list[str]:
        """Claim the pending packages no process holds; those claimed.

        The database decides (a conditional UPDATE: pending, and no claim or an expired
        one), so two processes never both win a package. A caller that claimed packages
        delivers them or gives them back (``unclaim``).
        """
        with self._lock:  # within this process, without asking the database
            free = [p for p in dict.fromkeys(package_ids) if p not in self.held]
            self.held.update(dict.fromkeys(free, ""))
        won: set[str] = set()
        claim = self.new_claim()
        try:
            if free:
                now = stamp(self.clock())
                with writing(self.engine) as connection:
                    for start in range(0, len(free), 500):
                        won.update(
                            connection.execute(
                                CLAIM,
                                {
                                    "ids": free[start : start + 500],
                                    "by": claim.by,
                                    "until": claim.until,
                                    "now": now,
                                },
                            ).scalars()
                        )
        finally:
            with self._lock:
                for package_id in free:
                    if package_id in won:
                        self.held[package_id] = claim.by
                    else:
                        del self.held[package_id]
        return [p for p in free if p in won]

    def unclaim(self, package_ids: Iterable[str]) -> None:
        """Give back this process's claims on these packages (those it still holds)."""
        by_claim: dict[str, list[str]] = {}
        with self._lock:
            for package_id in dict.fromkeys(package_ids):
                token = self.held.pop(package_id, None)
                if token:
                    by_claim.setdefault(token, []).append(package_id)
        if by_claim:
            with writing(self.engine) as connection:
                for token, ids in by_claim.items():
                    connection.execute(UNCLAIM, {"ids": ids, "by": token})
                tell_courier(connection)

    def tokens(self, package_ids: Iterable[str]) -> dict[str, str | None]:
        """The token this process holds each package by (None or "": not held)."""
        with self._lock:
            return {package_id: self.held.get(package_id) for package_id in package_ids}

    def forget(self, package_ids: Iterable[str]) -> None:
        """Claims the database released already (with the package's new state)."""
        with self._lock:
            for package_id in package_ids:
                self.held.pop(package_id, None)

    def release_dead(self) -> int:
        """Free the claims of this machine's processes that died (SIGKILL, a crash) before
        they expire: a host restarted goes on at once. How many packages were freed.

        Only processes of this machine and boot are known dead for sure; another host's
        claims are left to expire.
        """
        now = stamp(self.clock())
        with self.engine.connect() as connection:
            holders = list(connection.execute(HOLDERS, {"now": now}).scalars())
        dead = [h for h in holders if dead_here(h, self.owner)]
        if not dead:
            return 0
        with writing(self.engine) as connection:
            freed = connection.execute(RELEASE_DEAD, {"dead": dead}).rowcount
        log.warning("courier: %d packages claimed by processes that died are free again", freed)
        return int(freed)
