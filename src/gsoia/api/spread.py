"""Clients' connections spread evenly over the workers of ``gsoia serve --workers N``.

The workers listen on one socket, and the kernel wakes each of them when a client
connects; whichever accepts first takes the connection, and uvloop accepts every
connection waiting in one wake-up. Clients that keep their connections open (partner
nodes, a TAXII client walking pages, a load generator) so fall unevenly on the workers,
and a worker holding more of them answers each more slowly: 16 connections opened at
once fell 9 and 7 on two workers, or all 16 on one. Here each worker accepts one
connection at a time, and only while it holds no more than the worker holding fewest; a
worker holding more looks again every ``LOOK_AGAIN`` and takes a connection still
waiting after ``PATIENCE``, so a worker that is busy or stuck never stops the node
accepting. A worker counts from the moment it starts accepting to the moment it stops: one
still loading its node, or shutting down, is not waited for.

The workers' counts are in a file of ``gsoia serve``'s making (``Tally``): one slot of
eight bytes a worker (its count plus one; 0 in a slot no worker has held), mapped into
each worker's memory, the slot held by a lock on its first byte, which the kernel lets go
when the worker dies however it dies. uvicorn builds each worker's event loop with
``new_loop`` (its ``loop`` setting) and asks it for a server on the shared socket; the
loop answers with an ``Acceptor``.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import mmap
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

log = logging.getLogger("gsoia.http")
SPREAD = "GSOIA_SERVE_SPREAD"
"""The environment variable naming the file of the workers' counts."""
SLOTS = 64
"""Workers a file counts (``gsoia serve --workers`` allows 64)."""
_COUNT = struct.Struct("=q")
_COUNTS = struct.Struct(f"={SLOTS}q")
PATIENCE = 0.1
"""Seconds a worker holding more connections than another leaves a waiting connection
to the others (long enough for a worker waiting for a core on a busy machine)."""
LOOK_AGAIN = 0.001
"""Seconds between a waiting worker's looks at the counts."""
RETRY_AFTER_ERROR = 1.0
"""Seconds a worker stops accepting after the system refused it a connection (no file
descriptor left, say), as asyncio's own servers do."""


class Tally:
    """This worker's slot in the file of the workers' counts of connections held."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(self._fd, _COUNTS.size)
            self.slot = self._claim(path)
        except BaseException:
            os.close(self._fd)
            raise
        self.held = 0
        self._released = False
        self.add(0)

    @staticmethod
    def create(path: Path) -> None:
        """A new file of counts, every slot free (``gsoia serve``, before its workers)."""
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, bytes(_COUNTS.size))
        finally:
            os.close(fd)

    def _claim(self, path: Path) -> int:
        for slot in range(SLOTS):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
            except OSError:
                continue
            return slot
        raise OSError(f"{path}: every one of its {SLOTS} workers' slots is held")

    def add(self, change: int) -> None:
        """This worker holds ``change`` more connections (fewer if negative)."""
        self.held += change
        if not self._released:  # a released slot may be another worker's by now
            _COUNT.pack_into(self._map, self.slot * _COUNT.size, self.held + 1)

    def over(self) -> bool:
        """Whether this worker holds more connections than a live worker holds."""
        mine = self.held + 1
        return any(
            0 < theirs < mine and slot != self.slot and self._alive(slot)
            for slot, theirs in enumerate(_COUNTS.unpack_from(self._map))
        )

    def _alive(self, slot: int) -> bool:
        """Whether a worker holds ``slot`` (a dead worker's count stays in the file)."""
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
        except OSError:
            return True
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot)
        return False

    def release(self) -> None:
        """Let go of this worker's slot: it accepts no more, and the others do not wait
        for it."""
        if not self._released:
            self._released = True
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self.slot)

    def close(self) -> None:
        self.release()
        self._map.close()
        os.close(self._fd)


class Acceptor:
    """The connections of a listening socket accepted one at a time, in this worker's
    turn (see the module's text); what the loop gives uvicorn for ``create_server``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        tally: Tally,
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol_factory = protocol_factory
        self._tally = tally
        self._later: asyncio.TimerHandle | None = None
        self._opening: set[asyncio.Task[Any]] = set()
        self._serving = True
        sock.setblocking(False)
        sock.listen(backlog)
        loop.add_reader(self._fd, self._readable)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)

    def _readable(self) -> None:
        if self._tally.over():  # a worker holding fewer takes it, or this one later
            self._loop.remove_reader(self._fd)
            self._later = self._loop.call_later(LOOK_AGAIN, self._look_again, self._loop.time())
        else:
            self._accept()

    def _look_again(self, since: float) -> None:
        """Accept again once this worker no longer holds more than another, or once a
        connection has waited ``PATIENCE`` for the others."""
        self._later = None
        if not self._serving:
            return
        waited = self._loop.time() - since >= PATIENCE
        if not waited and self._tally.over():
            self._later = self._loop.call_later(LOOK_AGAIN, self._look_again, since)
            return
        self._loop.add_reader(self._fd, self._readable)
        if waited:
            self._accept()  # one still waiting has waited its turn

    def _stop_accepting(self, seconds: float) -> None:
        self._loop.remove_reader(self._fd)
        self._later = self._loop.call_later(seconds, self._accept_again)

    def _accept_again(self) -> None:
        self._later = None
        if self._serving:
            self._loop.add_reader(self._fd, self._readable)

    def _accept(self) -> None:
        try:
            connection, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # taken by another worker, or gone
        except OSError as error:
            log.error("accepting a connection: %s (again in %s s)", error, RETRY_AFTER_ERROR)
            self._stop_accepting(RETRY_AFTER_ERROR)
            return
        if connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol = self._protocol_factory()
        self._tally.add(1)
        counted = True
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            nonlocal counted
            if counted:
                counted = False
                self._tally.add(-1)
            lost(exc)

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        opening = self._loop.create_task(
            self._loop.connect_accepted_socket(lambda: protocol, connection)
        )
        self._opening.add(opening)

        def opened(task: asyncio.Task[Any]) -> None:
            nonlocal counted
            self._opening.discard(task)
            if (task.cancelled() or task.exception() is not None) and counted:
                counted = False  # never made: nothing will say it is lost
                self._tally.add(-1)
                connection.close()

        opening.add_done_callback(opened)

    def close(self) -> None:
        if not self._serving:
            return
        self._serving = False
        self._tally.release()
        if self._later is not None:
            self._later.cancel()
            self._later = None
        else:
            self._loop.remove_reader(self._fd)

    def is_serving(self) -> bool:
        return self._serving

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def wait_closed(self) -> None:
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)


class SpreadLoop(uvloop.Loop):
    """uvloop's loop, whose servers on a socket given accept in the worker's turn.

    The worker takes its slot in the file of counts (``counts``) only as it starts
    accepting: a worker still starting (loading its node) is not waited for.
    """

    def __init__(self, counts: Path) -> None:
        super().__init__()
        self.counts = counts

    async def create_server(self, protocol_factory: Any, *args: Any, **kwargs: Any) -> Any:
        sock = kwargs.get("sock")
        if sock is None or args or kwargs.get("ssl") is not None:
            return await super().create_server(protocol_factory, *args, **kwargs)
        backlog = kwargs.get("backlog", 100)
        return Acceptor(self, sock, protocol_factory, Tally(self.counts), backlog)


def new_loop() -> asyncio.AbstractEventLoop:
    """A worker's event loop (uvicorn's ``loop`` setting): a ``SpreadLoop`` counting in the
    file ``gsoia serve`` named, or uvloop's own loop when it named none."""
    path = os.environ.get(SPREAD)
    if not path:
        return uvloop.new_event_loop()
    return SpreadLoop(Path(path))
