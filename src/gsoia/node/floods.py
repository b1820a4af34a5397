"""Refusals of unauthenticated sources: counted, not written one by one, and limited.

Anyone can send a request without credentials, or a package no pinned peer signed. Were
each refusal of such a request an audit entry, anyone could grow the audit log (which is
never trimmed) as fast as they can send. So these refusals are counted per *source* (the
client address as the server sees it), and a source gets at most one audit entry per
``WINDOW``: its first refusal is written at once, the later ones are counted, and the
next entry (written when the source is refused again after the window, or by
``Floods.due`` / ``Floods.drain``, which the server calls every few seconds and when it
stops) carries their count, the window they cover and the latest as a sample. No count is
lost, and each entry is the refusal it samples (its kind, actor and data, as it would be
written alone) with ``source``, ``count``, ``from`` and ``to`` added.

A source also has a budget of refusals: ``BUDGET`` at first, refilled at ``BUDGET`` per
``WINDOW``, spent by each of its unauthenticated refusals and by nothing else (a source
whose requests all succeed, or are refused for a signed-in user or a pinned peer, never
spends it). While it is spent the routes that take anonymous work (the web sign-in, the
federation inbox and batch inbox) answer 429 with ``Retry-After`` (``Floods.retry_after``)
before reading the request; those answers are counted the same way. The budget is per
process (each ``gsoia serve`` worker keeps its own) and per client address.

Refusals of signed-in users, and of packages a pinned peer signed (replay, stale, no
consent, ...), are not counted here: the node writes each of them alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

WINDOW = 60.0
"""Seconds: a source gets at most one audit entry per window."""
BUDGET = 1000
"""Unauthenticated refusals a source may have in a burst, and per window on average."""
MAX_SOURCES = 10_000
"""Sources tracked at once; past that, new sources are counted together as ``OTHERS``."""
OTHERS = "*"
log = logging.getLogger("gsoia.floods")


@dataclass(frozen=True)
class Refusal:
    """One refusal as the audit log would say it alone: entry kind, actor and data."""

    kind: str
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Tally:
    """The refusals of one source since its last entry: what its next entry says."""

    source: str
    count: int
    since: float
    until: float
    sample: Refusal

    def entry(self) -> tuple[str, str, dict[str, Any]]:
        """``(kind, actor, data)`` of the audit entry: the sample, with the count added."""
        return (
            self.sample.kind,
            self.sample.actor,
            self.sample.data
            | {
                "source": self.source,
                "count": self.count,
                "from": _iso(self.since),
                "to": _iso(self.until),
            },
        )


@dataclass
class _Source:
    tokens: float
    refilled: float
    written: float | None = None
    count: int = 0
    since: float = 0.0
    sample: Refusal | None = field(default=None)


class Floods:
    """The counts and budgets of every source, for one process (thread-safe).

    ``clock`` gives seconds since 1970 (``time.time``; a test gives its own).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        window: float = WINDOW,
        budget: int = BUDGET,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.clock = clock
        self.window = window
        self.budget = budget
        self.max_sources = max_sources
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()

    def refused(self, source: str, refusal: Refusal, *, spend: bool = True) -> list[Tally]:
        """Count one refusal of ``source``; the tally to write now, if its window allows.

        ``spend``: the refusal spends the source's budget (a 429 does not: it refuses
        only what the budget already refused).
        """
        with self._lock:
            now = self.clock()
            source, state = self._state(source, now)
            self._refill(state, now)
            if spend:
                state.tokens = max(state.tokens - 1, -float(self.budget))
            if state.count == 0:
                state.since = now
            state.count += 1
            state.sample = refusal
            if state.written is None or now - state.written >= self.window:
                return [self._take(source, state, now)]
            return []

    def retry_after(self, source: str) -> int | None:
        """Seconds until ``source`` may be refused again, if its budget is spent; None if
        its requests may be taken."""
        with self._lock:
            state = self._sources.get(source)
            if state is None and len(self._sources) >= self.max_sources:
                state = self._sources.get(OTHERS)
            if state is None:
                return None
            now = self.clock()
            self._refill(state, now)
            if state.tokens > 0:
                return None
            rate = self.budget / self.window
            return max(1, math.ceil((1 - state.tokens) / rate))

    def due(self) -> list[Tally]:
        """The tallies whose window is over (and forget the sources with nothing left)."""
        with self._lock:
            now = self.clock()
            tallies = [
                self._take(source, state, now)
                for source, state in self._sources.items()
                if state.count and (state.written is None or now - state.written >= self.window)
            ]
            self._forget_idle(now)
            return tallies

    def drain(self) -> list[Tally]:
        """Every tally not written yet, whatever its window (the server is stopping)."""
        with self._lock:
            now = self.clock()
            return [
                self._take(source, state, now)
                for source, state in self._sources.items()
                if state.count
            ]

    def _state(self, source: str, now: float) -> tuple[str, _Source]:
        """The source's state (``OTHERS``' when too many are tracked), made if new."""
        state = self._sources.get(source)
        if state is not None:
            return source, state
        if len(self._sources) >= self.max_sources:
            self._forget_idle(now)
        if len(self._sources) >= self.max_sources:
            source = OTHERS
            state = self._sources.get(source)
            if state is not None:
                return source, state
        state = _Source(tokens=float(self.budget), refilled=now)
        self._sources[source] = state
        return source, state

    def _refill(self, state: _Source, now: float) -> None:
        elapsed = max(0.0, now - state.refilled)
        state.tokens = min(float(self.budget), state.tokens + elapsed * self.budget / self.window)
        state.refilled = now

    def _take(self, source: str, state: _Source, now: float) -> Tally:
        assert state.sample is not None  # INVARIANT: count > 0 once a refusal was counted
        tally = Tally(source, state.count, state.since, now, state.sample)
        state.count, state.sample, state.written = 0, None, now
        return tally

    def _forget_idle(self, now: float) -> None:
        """Forget the sources with nothing to write, a full budget and a window over."""
        for source in [
            s
            for s, state in self._sources.items()
            if state.count == 0
            and (state.written is None or now - state.written >= self.window)
            and state.tokens + (now - state.refilled) * self.budget / self.window >= self.budget
        ]:
            del self._sources[source]


def client_address(scope: Mapping[str, Any]) -> str | None:
    """The source of an ASGI request: its client's address as this server sees it (behind
    a proxy, the proxy's); None when the server does not know it."""
    client = scope.get("client")
    return str(client[0]) if client else None


def too_many(action: str, wait: int) -> Refusal:
    """The refusal of a request answered 429 (the source's budget spent)."""
    return Refusal(
        "refused",
        "anonymous",
        {"action": action, "reason": f"429 too many refusals from this address: retry in {wait} s"},
    )


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="milliseconds")


class Flusher:
    """A thread that calls ``flush()`` every ``every`` seconds while the server runs, and
    ``flush(everything=True)`` once as it stops (``stop``)."""

    def __init__(self, flush: Callable[..., object], every: float = 5.0) -> None:
        self.flush = flush
        self.every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gsoia-floods", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush(everything=True)

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            try:
                self.flush()
            except Exception:  # the database is away a moment: the counts wait for the next
                log.warning("counted refusals not written yet", exc_info=True)
