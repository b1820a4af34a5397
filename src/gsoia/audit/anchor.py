"""The local anchor: the node's latest signed tree head, kept outside its database.

Someone who can write to the database can delete the log's last entries, or all of them,
and every entry left still verifies. The anchor is the head the node last committed, kept
in a file of the data directory (``audit-head.json``, mode 0600), so ``gsoia audit
verify`` can tell that the log is shorter than it was, or no longer the log it was.

Heads are offered as transactions commit (``Anchor.offer``); a writer thread keeps the
largest offered, written to a temporary file, fsynced, renamed over the anchor and the
directory fsynced, so the file always holds a whole head: at most one write every
``EVERY`` seconds, never in the way of a commit. The anchor lags the log by at most that
and the write in flight, and never leads it: a head is offered only once its transaction
has committed.

On several hosts over one PostgreSQL database, each host keeps its own anchor: the last
head its processes committed. Each is a head of the one log, so each must be consistent
with it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gsoia.audit.log import AuditVerifyError, TreeHead, head_message
from gsoia.audit.merkle import AuditError, root
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import verify

ANCHOR_FILE = "audit-head.json"
EVERY = 0.25
"""Seconds at least between two writes of the anchor (the heads of a burst of commits are
one write: fsyncs at commit speed would cost the commits a sixth of their rate)."""
PRIVATE_FILE = 0o600


class AnchorError(AuditError):
    """The anchor file cannot be read as a signed tree head."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


class Anchor:
    """The latest signed tree head of this node, in ``path``."""

    def __init__(self, path: Path, *, keeping: bool = True) -> None:
        self.path = path
        self.keeping = keeping
        """False: heads offered are not written (the node's ``witnessing`` set off); the
        file is still read and checked."""
        self._lock = threading.Condition()
        self._offered: TreeHead | None = None
        self._written = 0
        """The size of the head in the file (as this process last wrote or read it)."""
        self._failure: OSError | None = None
        self._writer: threading.Thread | None = None
        self._closed = False
        self._flushing = 0
        """Callers of ``flush`` waiting: the writer does not pause for them."""
        self._wrote_at = 0.0
        self._idle = False
        """The writer waits for a head to be offered: only then does ``offer`` wake it (a
        wake-up costs a commit a thread switch; pausing or writing, it takes the largest
        head offered meanwhile)."""

    # -- reading ------------------------------------------------------------------------

    def read(self) -> TreeHead | None:
        """The head in the file; None if there is no file. ``AnchorError`` if it is not a
        head (its signature is checked by ``check``, which knows the keys)."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise AnchorError(self.path, f"cannot be read ({e.strerror})") from e
        try:
            data = json.loads(text)
            head = TreeHead(
                size=data["size"],
                root=bytes.fromhex(data["root"]),
                signature=bytes.fromhex(data["signature"]),
                at=data["at"],
            )
        except (ValueError, KeyError, TypeError) as e:
            raise AnchorError(self.path, "is not a signed tree head") from e
        if not isinstance(head.size, int) or isinstance(head.size, bool) or head.size < 1:
            raise AnchorError(self.path, "is not a signed tree head (its size)")
        if len(head.root) != 32 or not isinstance(head.at, str):
            raise AnchorError(self.path, "is not a signed tree head (its root or time)")
        return head

    # -- keeping ------------------------------------------------------------------------

    def offer(self, head: TreeHead) -> None:
        """Keep ``head`` if it is larger than any offered before (a committed head)."""
        with self._lock:
            if self._closed or not self.keeping:
                return
            if self._offered is not None and head.size <= self._offered.size:
                return
            self._offered = head
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_offered, name="gsoia-anchor", daemon=True
                )
                self._writer.start()
            elif self._idle:
                self._lock.notify_all()

    def flush(self) -> None:
        """Wait until the largest head offered is in the file; raise what writing raised."""
        with self._lock:
            self._flushing += 1
            self._lock.notify_all()
            try:
                while (
                    self._failure is None
                    and self._offered is not None
                    and self._written < self._offered.size
                ):
                    self._lock.wait()
            finally:
                self._flushing -= 1
            if self._failure is not None:
                raise AnchorError(self.path, f"cannot be written ({self._failure.strerror})")

    def close(self) -> None:
        """Write the last head offered, then stop the writer."""
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
                self._lock.notify_all()
            if self._writer is not None:
                self._writer.join()

    def _write_offered(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (
                    self._offered is None or self._offered.size <= self._written
                ):
                    self._idle = True
                    self._lock.wait()
                self._idle = False
                if self._closed and (self._offered is None or self._offered.size <= self._written):
                    return
                head = self._offered
            assert head is not None
            self._pause()
            with self._lock:  # the largest offered while it paused
                head = self._offered if self._offered is not None else head
            try:
                self._replace(head)
            except OSError as e:
                with self._lock:
                    self._failure = e
                    self._lock.notify_all()
                return
            with self._lock:
                self._written = head.size
                self._wrote_at = time.monotonic()
                self._lock.notify_all()

    def _pause(self) -> None:
        """Let ``EVERY`` seconds pass since the last write, unless someone waits for this
        one (``flush``, ``close``): a burst of commits is one write, not one each."""
        with self._lock:
            while not self._closed and not self._flushing:
                left = self._wrote_at + EVERY - time.monotonic()
                if left <= 0:
                    return
                self._lock.wait(left)

    def _replace(self, head: TreeHead) -> None:
        """Write ``head`` whole: a temporary file, fsynced, renamed over the anchor."""
        temporary = self.path.with_name(
            f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        )
        text = json.dumps(head.to_dict(), sort_keys=True) + "\n"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def check_anchor(
    anchor: TreeHead,
    log_size: int,
    leaves: Callable[[int], Sequence[bytes]],
    public_keys: Sequence[bytes],
    where: Path | str,
) -> None:
    """The log (``log_size`` entries, verified; ``leaves(n)``: its first n leaf hashes)
    holds the anchor's head: as long at least, the same root at the anchor's size.

    ``AuditVerifyError`` naming the missing or altered range, or a bad anchor signature
    (checked against every signing key the node used: ``public_keys``).
    """
    message = head_message(anchor.size, anchor.root)
    for key in public_keys:
        try:
            verify(key, message, anchor.signature)
            break
        except BadSignature:
            continue
    else:
        raise AuditVerifyError(
            anchor.size - 1, f"the anchor {where} is not signed by any key of this node"
        )
    if log_size < anchor.size:
        raise AuditVerifyError(log_size, _missing(anchor, log_size, where))
    if root(leaves(anchor.size)) != anchor.root:
        raise AuditVerifyError(
            0,
            f"entries 0 to {anchor.size - 1} are not those the anchor {where} signed"
            f" ({anchor.at}): the log was rewritten",
        )


def check_anchor_quickly(
    anchor: TreeHead, size: int, stored_root: bytes | None, where: Path | str
) -> None:
    """What can be checked without reading the log: it is as long as the anchor's head
    (``size``), and the root it stores after the anchor's last entry (``stored_root``) is
    the anchor's. ``AuditVerifyError`` otherwise; ``check_anchor`` checks it all."""
    if size < anchor.size:
        raise AuditVerifyError(size, _missing(anchor, size, where))
    if stored_root != anchor.root:
        raise AuditVerifyError(
            anchor.size - 1,
            f"its stored root is not the one the anchor {where} signed ({anchor.at})",
        )


def _missing(anchor: TreeHead, size: int, where: Path | str) -> str:
    entries = (
        f"entry {size} is"
        if size + 1 == anchor.size
        else f"entries {size} to {anchor.size - 1} are"
    )
    return (
        f"{entries} missing: the anchor {where} holds the signed head of {anchor.size}"
        f" entries ({anchor.at}), the log has {size}"
    )
