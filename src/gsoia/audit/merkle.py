"""The Merkle tree of the audit log: hashes, roots, proofs and their verification.

The rules are those of RFC 9162 §2.1 (Certificate Transparency 2.0), with SHA-256:

* a leaf hash is ``SHA-256(0x00 || entry)`` and an interior node ``SHA-256(0x01 || left ||
  right)``; the two prefixes keep a leaf from ever passing for a node (§2.1.1);
* the root of ``n`` leaves, MTH, is ``SHA-256("")`` for ``n = 0``, the leaf hash itself for
  ``n = 1``, and otherwise ``node(MTH(first k), MTH(the rest))`` where ``k`` is the largest
  power of two smaller than ``n`` (§2.1.1);
* an inclusion proof for leaf ``m`` lists the sibling subtree roots from the leaf up to the
  root (PATH, §2.1.3.1) and is verified by the algorithm of §2.1.3.2;
* a consistency proof from size ``m`` to size ``n`` lists the subtree roots needed to
  rebuild both roots from one another (PROOF, §2.1.4.1), verified as in §2.1.4.2.

Every function here takes *leaf hashes* (entries already passed through `leaf_hash`), never
the entries themselves. The module is pure: no I/O, no clock, no state outside
`CompactRange`. A proof that does not verify raises `ProofError` (wrong shape, size or
index) or its subclass `RootMismatchError` (well formed, but the hashes do not add up);
verification never returns a boolean that could be ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256

from gsoia.errors import GsoiaError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "AuditError",
    "CompactRange",
    "Inclusions",
    "ProofError",
    "RootMismatchError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""


class AuditError(GsoiaError):
    """Base of the audit log's errors."""


class ProofError(AuditError):
    """A proof cannot be made or verified for these numbers, or has the wrong shape."""


class RootMismatchError(ProofError):
    """A well-formed proof led to another root than the one expected.

    Attributes:
        expected: the root the caller holds (from a signed tree head, say).
        calculated: the root the proof leads to.
    """

    def __init__(self, expected: bytes, calculated: bytes, what: str = "root") -> None:
        self.expected = bytes(expected)
        self.calculated = bytes(calculated)
        super().__init__(
            f"calculated {what} {self.calculated.hex()} does not match "
            f"expected {what} {self.expected.hex()}"
        )


SubtreeHash = Callable[[int, int], bytes]
"""``mth(lo, hi)``: MTH of the leaves ``lo`` to ``hi - 1`` of a tree (``hi > lo``)."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one log entry: ``SHA-256(0x00 || data)`` (RFC 9162 §2.1.1)."""
    return sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    return sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over ``leaf_hashes`` (already leaf-hashed), in O(n) time and without recursion.

    Pairs each level from the left and lifts a last, unpaired node unchanged to the level
    above; this builds exactly the tree of RFC 9162 §2.1.1, whose left subtrees are the
    largest perfect ones.
    """
    return _mth(list(leaf_hashes))


def _mth(level: list[bytes]) -> bytes:
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [
            sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1: sibling roots from the leaf up to the root.

    Raises:
        ProofError: ``index`` is not a leaf of the tree.
    """
    return inclusion_path(index, len(leaf_hashes), _over(leaf_hashes))


def inclusion_path(index: int, size: int, mth: SubtreeHash) -> list[bytes]:
    """``inclusion_proof`` in the tree of ``size`` leaves whose subtree roots ``mth`` gives
    (``mth(lo, hi)``: MTH of leaves ``lo`` to ``hi - 1``; ``audit.levels``)."""
    _check_index(index, size)
    outer: list[bytes] = []  # siblings from the root down; the proof lists them bottom-up
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            outer.append(mth(lo + k, hi))
            hi = lo + k
        else:
            outer.append(mth(lo, lo + k))
            lo, m = lo + k, m - k
    outer.reverse()
    return outer


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1: how the tree grew from ``old_size`` leaves.

    Empty when ``old_size`` is 0 or the whole tree (nothing to prove).

    Raises:
        ProofError: ``old_size`` is negative or larger than the tree.
    """
    return consistency_path(old_size, len(leaf_hashes), _over(leaf_hashes))


def consistency_path(old_size: int, new_size: int, mth: SubtreeHash) -> list[bytes]:
    """``consistency_proof`` in the tree of ``new_size`` leaves whose subtree roots ``mth``
    gives (as for ``inclusion_path``)."""
    _check_sizes(old_size, new_size)
    if old_size in (0, new_size):
        return []
    outer: list[bytes] = []  # appended after each SUBPROOF recursion, so from the root down
    lo, hi, m, whole = 0, new_size, old_size, True
    while m < hi - lo:
        k = _split(hi - lo)
        if m <= k:
            outer.append(mth(lo + k, hi))
            hi = lo + k
        else:
            outer.append(mth(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    # INVARIANT: m == hi - lo: SUBPROOF(m, D[m], b) is {} if b, else {MTH(D[m])}.
    first = [] if whole else [mth(lo, hi)]
    outer.reverse()
    return first + outer


def _over(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """The subtree roots of a list of leaf hashes, each computed from its leaves."""
    return lambda lo, hi: _mth(list(leaf_hashes[lo:hi]))


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` leaves.

    Follows RFC 9162 §2.1.3.2, after checking the proof has exactly the number of hashes a
    proof for ``index`` in ``size`` has, so that a malformed proof is named as such.

    Raises:
        ProofError: the index is not in the tree, or the proof has the wrong shape.
        RootMismatchError: the proof leads to another root than ``expected_root``.
    """
    _walk_inclusion(index, size, leaf, proof, expected_root, None)


class Inclusions:
    """The inclusion proofs of many leaves in one tree, each checked as ``verify_inclusion``
    checks it, sharing the work their paths share (the leaves of a batch, proven in one
    head, share all but their first few hashes).

    The algorithm of RFC 9162 §2.1.3.2 is a walk whose state after each hash is the node
    reached (``fn``, ``sn``) and its hash; what follows depends only on that state and the
    hashes left in the proof. A proof that reaches a state an earlier proof reached, with
    the same hashes left, would end as that one ended, at the expected root: it is done
    there. Only walks that ended at the expected root are remembered.
    """

    def __init__(self, size: int, expected_root: bytes) -> None:
        self.size = size
        self.expected_root = expected_root
        self._proven: _Proven = {}

    def verify(self, index: int, leaf: bytes, proof: Sequence[bytes]) -> None:
        """``verify_inclusion(index, size, leaf, proof, expected_root)``: the same checks,
        the same errors."""
        _walk_inclusion(index, self.size, leaf, proof, self.expected_root, self._proven)


_Proven = dict[tuple[int, int], tuple[bytes, tuple[bytes, ...]]]
"""States (fn, sn) walks that ended at the root reached: their hash, and the hashes left."""


def _walk_inclusion(
    index: int,
    size: int,
    leaf: bytes,
    proof: Sequence[bytes],
    expected_root: bytes,
    proven: _Proven | None,
) -> None:
    """``verify_inclusion``; with ``proven``, done at a state proven before (``Inclusions``),
    and the states of a walk that ends at the root joining it."""
    _check_index(index, size)
    _check_hash("leaf", leaf)
    _check_proof_hashes(proof)
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"proof has {len(proof)} hashes, expected {inner + border} "
            f"for index {index} in a tree of {size}"
        )
    hashes = tuple(proof)
    walked: list[tuple[tuple[int, int], bytes, int]] = []
    # §2.1.3.2 steps 2-4
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(hashes):
        if sn == 0:  # step 4a; the length check already rules it out
            raise ProofError(f"proof is too long for index {index} in a tree of {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
        if proven is not None:
            known = proven.get((fn, sn))
            if known is not None and known[0] == r and known[1] == hashes[i + 1 :]:
                break  # the rest is a walk that ended at the root
            walked.append(((fn, sn), r, i + 1))
    else:
        # §2.1.3.2 step 5
        if sn != 0:  # the length check already rules it out
            raise ProofError(f"proof is too short for index {index} in a tree of {size}")
        if r != expected_root:
            raise RootMismatchError(expected_root, r)
    if proven is not None:
        for state, hashed, done in walked:
            proven[state] = (hashed, hashes[done:])


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` leaves extends the tree of ``old_size`` leaves.

    For ``0 < old_size < new_size`` follows RFC 9162 §2.1.4.2, after checking the number of
    hashes. Equal sizes need an empty proof and equal roots; ``old_size`` 0 needs an empty
    proof and ``old_root`` the empty root (any tree extends the empty one).

    Raises:
        ProofError: the sizes are impossible, or the proof has the wrong shape.
        RootMismatchError: the proof leads to another old or new root than those given.
    """
    _check_sizes(old_size, new_size)
    _check_proof_hashes(proof)
    expected = _consistency_length(old_size, new_size)
    if len(proof) != expected:
        raise ProofError(
            f"proof has {len(proof)} hashes, expected {expected} "
            f"from size {old_size} to size {new_size}"
        )
    if old_size == 0:
        if old_root != EMPTY_ROOT:
            raise RootMismatchError(old_root, EMPTY_ROOT, "old root")
        return
    if old_size == new_size:
        if old_root != new_root:
            raise RootMismatchError(new_root, old_root, "new root")
        return
    path = list(proof)
    # §2.1.4.2 step 2
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # steps 3-4
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # step 5
    fr = sr = path[0]
    # step 6
    for c in path[1:]:
        if sn == 0:  # step 6a; the length check already rules it out
            raise ProofError(f"proof is too long from size {old_size} to size {new_size}")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # step 7
    if sn != 0:  # the length check already rules it out
        raise ProofError(f"proof is too short from size {old_size} to size {new_size}")
    if fr != old_root:
        raise RootMismatchError(old_root, fr, "old root")
    if sr != new_root:
        raise RootMismatchError(new_root, sr, "new root")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """Hashes in the proof for ``index`` in ``size``: (below, above) where the paths part.

    ``inner`` siblings lie below the level where the path to ``index`` and the path to the
    last leaf part; ``border`` more, one per left turn above it, lie on the right border.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _consistency_length(old_size: int, new_size: int) -> int:
    if old_size in (0, new_size):
        return 0
    inner, border = _inclusion_shape(old_size - 1, new_size)
    shift = (old_size & -old_size).bit_length() - 1  # trailing zeros of old_size
    # The old tree's rightmost perfect subtree (2**shift leaves) is the seed: given as
    # proof[0], unless it is the whole old tree, whose root the verifier already holds.
    seed = 0 if old_size == 1 << shift else 1
    return seed + inner - shift + border


def _check_index(index: int, size: int) -> None:
    if size < 0:
        raise ProofError(f"tree size {size} is negative")
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of {size}")


def _check_sizes(old_size: int, new_size: int) -> None:
    if old_size < 0:
        raise ProofError(f"old size {old_size} is negative")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} has {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, value in enumerate(proof):
        if len(value) != HASH_SIZE:  # named only then: a receipt's proof is checked a release
            _check_hash(f"proof[{i}]", value)


class CompactRange:
    """The append-only state of a tree: the roots of its perfect subtrees, largest first.

    A tree of ``size`` leaves is the concatenation of perfect subtrees, one per set bit of
    ``size``; keeping their roots is enough to append in O(log n) and to give the root in
    O(log n), without the leaves.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        """A range resumed from a stored ``size`` and its subtree roots (`hashes`).

        Raises:
            ProofError: ``hashes`` does not hold one root per set bit of ``size``.
        """
        stack = list(hashes)
        if size < 0:
            raise ProofError(f"tree size {size} is negative")
        if len(stack) != size.bit_count():
            raise ProofError(
                f"a tree of {size} needs {size.bit_count()} subtree roots, got {len(stack)}"
            )
        for i, value in enumerate(stack):
            _check_hash(f"hashes[{i}]", value)
        self._size = size
        self._hashes = stack

    @classmethod
    def from_leaves(cls, leaf_hashes: Sequence[bytes]) -> CompactRange:
        """The state after appending every one of ``leaf_hashes``, in O(n)."""
        size = len(leaf_hashes)
        hashes: list[bytes] = []
        lo = 0
        for bit in reversed(range(size.bit_length())):
            width = 1 << bit
            if size & width:
                hashes.append(_mth(list(leaf_hashes[lo : lo + width])))
                lo += width
        return cls(size, hashes)

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtree roots, largest (leftmost) first: with `size`, the whole state."""
        return tuple(self._hashes)

    def copy(self) -> CompactRange:
        """An independent range in the same state (to append to tentatively)."""
        return CompactRange(self._size, self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash: merge it with every subtree of its size, as a binary carry."""
        _check_hash("leaf", leaf)
        merged, carry = leaf, self._size
        while carry & 1:
            merged = node_hash(self._hashes.pop(), merged)
            carry >>= 1
        self._hashes.append(merged)
        self._size += 1

    def root(self) -> bytes:
        """MTH of the leaves appended so far (RFC 9162 §2.1.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = node_hash(left, result)
        return result

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
