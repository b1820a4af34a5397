"""One worker process of ``gsoia serve --workers N``: the node opened from the environment.

``gsoia serve`` with one worker runs the app in its own process. With several, uvicorn
starts each worker afresh and builds its app with ``app()`` here, from what ``serve`` put in
the environment (``SERVE_DATA``, ``SERVE_DATABASE``, ``SERVE_TODAY``). The workers share
the node's database: the audit log serialises their appends (a lock in the database), and
each worker takes in the items the others stored before it lists (``Node.refresh``). Each
worker delivers what its own requests put in the outbox (claimed in the database: see
``gsoia.federation.courier``); one process at a time runs the delivery loop for the rest.
On PostgreSQL that is the process holding the node's courier advisory lock, on whichever
host, woken by the others' NOTIFY (``courier_leader``); on SQLite, the worker holding the
courier lock file of the data directory, which looks every half second.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import fcntl
import gc
import os
import signal
from contextlib import suppress
from pathlib import Path
from typing import IO

from fastapi import FastAPI

from gsoia.api.app import create_app
from gsoia.api.observe import configure_logging
from gsoia.node.service import Node

SERVE_DATA = "GSOIA_SERVE_DATA"
SERVE_DATABASE = "GSOIA_SERVE_DATABASE"
SERVE_TODAY = "GSOIA_SERVE_TODAY"
SERVE_PARENT = "GSOIA_SERVE_PARENT"
"""The process id of ``gsoia serve``, which every worker's parent must be."""
COURIER_LOCK = "courier.lock"


def app() -> FastAPI:
    """The app of one worker (an ASGI factory: ``uvicorn gsoia.api.served:app --factory``)."""
    import datetime as dt

    end_with_parent()
    configure_logging()
    today = os.environ.get(SERVE_TODAY) or None
    data = Path(os.environ[SERVE_DATA])
    node = Node.open(
        data,
        database=os.environ.get(SERVE_DATABASE) or None,
        today=dt.date.fromisoformat(today) if today else None,
    )
    application = create_app(node)
    leader = node.exchange.courier_leader()
    lock = None if leader is not None else courier_lock(data / COURIER_LOCK)
    if leader is not None or lock is not None:
        node.exchange.courier.start(leader=leader)
        node.exchange.head_rounds.start()
        node.exchange.erasure_rounds.start()

    def close() -> None:
        if leader is not None or lock is not None:
            node.exchange.erasure_rounds.stop()
            node.exchange.head_rounds.stop()
            node.exchange.courier.stop()
        if lock is not None:
            lock.close()
        node.close()

    atexit.register(close)
    gc.collect()  # what start-up built lives as long as the worker (see ``serve``)
    gc.freeze()
    return application


def end_with_parent() -> None:
    """Have this worker stopped (SIGTERM) when ``gsoia serve`` dies, even by SIGKILL: no
    worker goes on serving the port alone (Linux; elsewhere the supervisor's own stop)."""
    parent = int(os.environ.get(SERVE_PARENT) or os.getppid())
    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # it died before the request took effect: while this worker started (imports take
    # seconds), or just now
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def courier_lock(path: Path) -> IO[bytes] | None:
    """The data directory's courier lock if this process got it (held until it exits)."""
    handle = path.open("ab")
    os.chmod(path, 0o600)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
