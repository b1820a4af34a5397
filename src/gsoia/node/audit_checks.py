"""The audit log verified for its page: in whole once per process, then from where the last
verification ended, so that opening the page costs the entries appended since.

``gsoia audit verify`` (``Node.verify_audit``) recomputes every leaf, root and signed head
each time. The audit page (``/web/audit``) keeps that walk's state (``audit.log.LogCheck``)
in the process and goes on from it: the entries appended since are checked as the whole
walk would check them. What it trusts from before: that the entries it verified are
unchanged. It checks that the last of them still has the leaf and root it verified (one
rewritten sends it back to the whole log), that the log is as long as the longest it
verified in this process (a log cut short fails, also once verified again in whole), and
the anchor as the node's start does (``check_anchor_quickly``); a change of the node's
signing keys starts the walk again. Entries rewritten further back are found by the next
whole verification: the page offers one (``whole``), and says when the last was made. A
failed verification is forgotten: the next opening verifies the whole log again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from gsoia.audit.anchor import check_anchor, check_anchor_quickly
from gsoia.audit.log import AuditVerifyError, LogCheck, TreeHead
from gsoia.store.schema import audit_entries

if TYPE_CHECKING:
    from gsoia.node.service import Node


@dataclass(frozen=True)
class Verification:
    """What the audit page says of the log."""

    head: TreeHead | None
    """The last signed head verified (None: the log is empty)."""
    size: int
    """The entries verified."""
    whole_size: int
    """The entries the last whole verification covered."""
    whole_at: str
    """When it was made (this process)."""
    whole: bool
    """This verification was a whole one."""


class AuditChecks:
    """One node's verification of its audit log for its page, kept in this process."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()  # one walk at a time: they share the state
        self._check: LogCheck | None = None
        self._keys: list[bytes] = []
        self._whole: tuple[int, str] = (0, "")
        self._longest: tuple[int, str] = (0, "")
        """The most entries verified in this process, and when."""

    def verified(self, *, whole: bool = False) -> Verification:
        """The log verified from where the last verification ended, or in whole (the first
        time in this process, when asked, after the node's keys changed, or when the end
        verified before no longer holds). ``AuditVerifyError`` naming the entry."""
        from gsoia.node.rotation import own_signing_keys

        node = self.node
        with self._lock:
            keys = own_signing_keys(node)
            check = self._check
            self._check = None  # kept again only once verified
            if whole or check is None or keys != self._keys or not self._end_holds(check):
                check, whole = LogCheck(keys), True
            check.extend(node.engine)
            longest, when = self._longest
            if check.size < longest:
                raise AuditVerifyError(
                    check.size,
                    f"entries {check.size} to {longest - 1} are missing: the log held {longest}"
                    f" entries when it was verified at {when}",
                )
            head = check.finish()
            anchor = node.audit.anchor
            held = anchor.read() if anchor is not None else None
            if anchor is not None and held is not None:
                if whole:
                    check_anchor(held, check.size, node.audit.leaves, keys, anchor.path)
                else:
                    stored = node.audit.store.size_and_root_at(held.size - 1)
                    check_anchor_quickly(held, *stored, anchor.path)
            now = node.audit.now()
            if whole:
                self._whole = (check.size, now)
            self._check, self._keys, self._longest = check, keys, (check.size, now)
            return Verification(head, check.size, *self._whole, whole)

    def _end_holds(self, check: LogCheck) -> bool:
        """The last entry ``check`` verified is stored as it was verified."""
        if check.last is None:
            return True
        query = select(audit_entries.c.leaf, audit_entries.c.root).where(
            audit_entries.c.seq == check.size - 1
        )
        with self.node.engine.connect() as connection:
            row = connection.execute(query).first()
        return row is not None and (bytes(row.leaf), bytes(row.root)) == check.last
