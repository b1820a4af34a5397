"""The roots of every aligned perfect subtree of the log, kept so proofs cost O(log² n).

Level ``k`` holds the root of each complete run of ``2**k`` leaves starting at a multiple
of ``2**k`` (level 0: the leaves themselves), 32 bytes each in one ``bytearray``: about
64 bytes a leaf in all. Every subtree an RFC 9162 proof names is either one of these, or
runs from an aligned start to the tree's last leaf, which splits into at most log n of
them (``mth``). Appending a leaf completes at most one subtree a level.

Not thread-safe: its owner (``AuditLog.levels``) serialises appends and reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import sha256

from gsoia.audit.merkle import EMPTY_ROOT, ProofError

_NODE = b"\x01"
HASH = 32


class Levels:
    """Aligned perfect subtree roots over the leaves appended so far."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaves)

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH:
            raise ProofError(f"a leaf hash is {HASH} bytes, not {len(leaf)}")
        self._levels[0] += leaf
        k, node = 0, leaf
        # the new node completes a pair at level k when it is a right child (odd index)
        while (len(self._levels[k]) // HASH) % 2 == 0:
            level = self._levels[k]
            left = bytes(level[-2 * HASH : -HASH])
            node = sha256(_NODE + left + node).digest()
            k += 1
            if k == len(self._levels):
                self._levels.append(bytearray())
            self._levels[k] += node

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH of leaves ``lo`` to ``hi - 1``: a subtree of an RFC 9162 tree (aligned and
        perfect, or from an aligned start to a tree's end at ``hi``)."""
        if not 0 <= lo < hi <= self.size:
            if lo == hi:
                return EMPTY_ROOT
            raise ProofError(f"no subtree {lo} to {hi} in a tree of {self.size}")
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # aligned and perfect: kept
            k = n.bit_length() - 1
            return bytes(self._levels[k][(lo >> k) * HASH : ((lo >> k) + 1) * HASH])
        k = 1 << ((n - 1).bit_length() - 1)  # the left subtree: the largest power of two < n
        return sha256(_NODE + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()
