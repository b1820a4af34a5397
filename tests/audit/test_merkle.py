"""The Merkle tree against RFC 9162 §2.1, written out naively, and against corrupted proofs.

The reference below (``ref_*``) follows the recursive definitions of MTH, PATH and PROOF
word for word, over the *entries* and with its own hashing, so it shares nothing with
``gsoia.audit.merkle`` but SHA-256. The corpus of corrupted proofs follows
transparency-dev/merkle's ``proof/verify_test.go``: each probe changes one thing and must
be refused.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsoia.audit import merkle
from gsoia.audit.merkle import (
    EMPTY_ROOT,
    AuditError,
    CompactRange,
    Inclusions,
    ProofError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from gsoia.errors import GsoiaError
from tests.budget import examples

# --- the reference: RFC 9162 §2.1, recursively, over entries ---------------------------


def ref_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]), §2.1.1."""
    n = len(d)
    if n == 0:
        return ref_hash(b"")
    if n == 1:
        return ref_hash(b"\x00" + d[0])
    k = ref_k(n)
    return ref_hash(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), §2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), §2.1.4.1 (for 0 < m <= n)."""
    return ref_subproof(m, d, True)


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# --- the trees under test -----------------------------------------------------------------

MAX = 70
ENTRIES = [b"", *(f"entry {i}: ".encode() * (i % 5) + bytes([i]) for i in range(1, MAX))]
LEAVES = [leaf_hash(entry) for entry in ENTRIES]
SIZES = range(MAX + 1)


def leaves(size: int) -> list[bytes]:
    return LEAVES[:size]


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with bit ``bit`` (0 = the low bit of byte 0) flipped."""
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def test_known_answers() -> None:
    assert (
        root([])
        == EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )
    assert root([leaf_hash(b"")]) == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_the_hashes_are_domain_separated() -> None:
    left, right = leaf_hash(b"a"), leaf_hash(b"b")

    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert leaf_hash(left + right) != node_hash(left, right)


@pytest.mark.parametrize("size", SIZES)
def test_root_equals_the_reference(size: int) -> None:
    assert root(leaves(size)) == ref_mth(ENTRIES[:size])


def test_root_takes_any_sequence() -> None:
    assert root(tuple(leaves(13))) == root(leaves(13))


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_equal_the_reference_and_verify(size: int) -> None:
    tree = leaves(size)
    expected_root = root(tree)

    for index in range(size):
        proof = inclusion_proof(index, tree)

        assert proof == ref_path(index, ENTRIES[:size]), index
        verify_inclusion(index, size, tree[index], proof, expected_root)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proofs_equal_the_reference_and_verify(size: int) -> None:
    tree = leaves(size)
    new_root = root(tree)

    for old_size in range(size + 1):
        proof = consistency_proof(old_size, tree)

        assert proof == (ref_proof(old_size, ENTRIES[:size]) if old_size else []), old_size
        verify_consistency(old_size, size, root(tree[:old_size]), new_root, proof)


@pytest.mark.parametrize("index", [-1, 13, 14])
def test_no_inclusion_proof_for_a_leaf_outside_the_tree(index: int) -> None:
    with pytest.raises(ProofError, match=f"index {index} is not in a tree of 13"):
        inclusion_proof(index, leaves(13))


@pytest.mark.parametrize("old_size", [-1, 14])
def test_no_consistency_proof_from_an_impossible_size(old_size: int) -> None:
    with pytest.raises(ProofError, match=f"old size {old_size} is"):
        consistency_proof(old_size, leaves(13))


def test_the_errors_derive_from_gsoia_error() -> None:
    assert issubclass(RootMismatchError, ProofError)
    assert issubclass(ProofError, AuditError)
    assert issubclass(AuditError, GsoiaError)


# --- the compact range --------------------------------------------------------------------


def test_compact_range_root_after_every_append() -> None:
    tree = [leaf_hash(i.to_bytes(2, "big")) for i in range(300)]
    compact = CompactRange()
    assert (compact.size, compact.root()) == (0, EMPTY_ROOT)

    for size, leaf in enumerate(tree, start=1):
        compact.append(leaf)

        assert compact.size == size
        assert len(compact.hashes) == size.bit_count()
        assert compact.root() == root(tree[:size]), size


def test_compact_range_from_leaves_equals_incremental() -> None:
    tree = [leaf_hash(i.to_bytes(2, "big")) for i in range(300)]
    incremental = CompactRange()

    for size in range(len(tree) + 1):
        built = CompactRange.from_leaves(tree[:size])

        assert (built.size, built.hashes) == (incremental.size, incremental.hashes), size
        assert built.root() == incremental.root()
        if size < len(tree):
            incremental.append(tree[size])


def test_compact_range_resumes_from_its_state() -> None:
    tree = leaves(MAX)
    stored = CompactRange.from_leaves(tree[:45])

    resumed = CompactRange(stored.size, stored.hashes)
    for leaf in tree[45:]:
        resumed.append(leaf)

    assert resumed.root() == root(tree)
    assert repr(resumed) == f"CompactRange(size={MAX}, root={root(tree).hex()})"


def test_a_copy_of_a_compact_range_is_independent() -> None:
    original = CompactRange.from_leaves(leaves(13))
    copy = original.copy()

    copy.append(LEAVES[13])

    assert (original.size, original.root()) == (13, root(leaves(13)))
    assert (copy.size, copy.root()) == (14, root(leaves(14)))


@pytest.mark.parametrize(
    ("size", "hashes", "message"),
    [
        (5, [LEAVES[0]], "a tree of 5 needs 2 subtree roots, got 1"),
        (0, [LEAVES[0]], "a tree of 0 needs 0 subtree roots, got 1"),
        (-1, [], "tree size -1 is negative"),
        (1, [b"short"], r"hashes\[0\] has 5 bytes, expected 32"),
    ],
)
def test_compact_range_refuses_an_impossible_state(
    size: int, hashes: list[bytes], message: str
) -> None:
    with pytest.raises(ProofError, match=message):
        CompactRange(size, hashes)


def test_compact_range_refuses_a_leaf_that_is_not_a_hash() -> None:
    compact = CompactRange()

    with pytest.raises(ProofError, match="leaf has 3 bytes, expected 32"):
        compact.append(b"abc")
    assert compact.size == 0


# --- corrupted proofs ----------------------------------------------------------------------

SOME_HASH = hashlib.sha256(b"some other hash").digest()
BIT_FLIPS = (3, 0, 8 * 15 + 4, 8 * 31 + 7)
"""Bits flipped in each proof hash: byte 0 bit 3 (as in verify_test.go), 0, 15.4, 31.7."""


@dataclass(frozen=True)
class Inclusion:
    index: int
    size: int
    leaf: bytes
    proof: list[bytes]
    root: bytes

    def verify(self) -> None:
        verify_inclusion(self.index, self.size, self.leaf, self.proof, self.root)

    def but(self, **changes: object) -> Inclusion:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Consistency:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]

    def verify(self) -> None:
        verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root, self.proof)

    def but(self, **changes: object) -> Consistency:
        return dataclasses.replace(self, **changes)


def corrupt_proof(proof: list[bytes]) -> dict[str, list[bytes]]:
    """Every change to the proof alone, by name (verify_test.go's, plus more bit flips)."""
    probes = {
        "trailing garbage": [*proof, b""],
        "trailing hash": [*proof, SOME_HASH],
        "preceding garbage": [b"", *proof],
        "preceding hash": [SOME_HASH, *proof],
        "empty proof": [],
    }
    for i in range(len(proof)):
        for bit in BIT_FLIPS:
            changed = list(proof)
            changed[i] = flip(proof[i], bit)
            probes[f"modified proof[{i}] bit {bit}"] = changed
    if proof:
        probes["truncated proof"] = proof[:-1]
        probes["preceding proof[0]"] = [proof[0], *proof]
        probes["duplicated last hash"] = [*proof, proof[-1]]
    if len(proof) > 1:
        probes["inserted component"] = [proof[0], SOME_HASH, *proof[1:]]
        probes["swapped proof[0] and proof[1]"] = [proof[1], proof[0], *proof[2:]]
        probes["reversed proof"] = proof[::-1]
    if not proof:
        del probes["empty proof"]
    return probes


def inclusion_probes(good: Inclusion) -> dict[str, Inclusion]:
    index, size = good.index, good.size
    probes = {
        "index - 1": good.but(index=index - 1),
        "index + 1": good.but(index=index + 1),
        "index ^ 2": good.but(index=index ^ 2),
        "index = size": good.but(index=size),
        "size * 2": good.but(size=size * 2),
        "size // 2": good.but(size=size // 2),
        "size 0": good.but(size=0),
        "wrong leaf": good.but(leaf=leaf_hash(b"wrong leaf")),
        "leaf not hashed": good.but(leaf=b"WrongLeaf"),
        "leaf's entry instead of its hash": good.but(leaf=ENTRIES[index]),
        "wrong root": good.but(root=SOME_HASH),
        "empty root": good.but(root=EMPTY_ROOT),
        "truncated root": good.but(root=good.root[:-1]),
        "flipped root": good.but(root=flip(good.root, 77)),
        "flipped leaf": good.but(leaf=flip(good.leaf, 200)),
    }
    probes.update({name: good.but(proof=p) for name, p in corrupt_proof(good.proof).items()})
    return probes


def consistency_probes(good: Consistency) -> dict[str, Consistency]:
    old, new = good.old_size, good.new_size
    probes = {
        "old size - 1": good.but(old_size=old - 1),
        "old size + 1": good.but(old_size=old + 1),
        "old size ^ 2": good.but(old_size=old ^ 2),
        "new size * 2": good.but(new_size=new * 2),
        "new size // 2": good.but(new_size=new // 2),
        "old size > new size": good.but(old_size=new, new_size=old),
        "old size 0": good.but(old_size=0),
        "equal sizes": good.but(old_size=new),
        "wrong old root": good.but(old_root=SOME_HASH),
        "wrong new root": good.but(new_root=SOME_HASH),
        "old root not a hash": good.but(old_root=b"WrongRoot"),
        "new root not a hash": good.but(new_root=b"WrongRoot"),
        "swapped roots": good.but(old_root=good.new_root, new_root=good.old_root),
        "empty old root": good.but(old_root=EMPTY_ROOT),
        "flipped old root": good.but(old_root=flip(good.old_root, 5)),
        "flipped new root": good.but(new_root=flip(good.new_root, 250)),
        "trailing old root": good.but(proof=[*good.proof, good.old_root]),
        "trailing new root": good.but(proof=[*good.proof, good.new_root]),
        "preceding old root": good.but(proof=[good.old_root, *good.proof]),
        "preceding new root": good.but(proof=[good.new_root, *good.proof]),
    }
    probes.update({name: good.but(proof=p) for name, p in corrupt_proof(good.proof).items()})
    return probes


INCLUSION_CASES = [
    (1, 0),
    (2, 0),
    (2, 1),
    (3, 2),
    (5, 4),
    (7, 3),
    (8, 0),
    (8, 7),
    (13, 5),
    (64, 31),
    (70, 0),
    (70, 33),
    (70, 69),
]
CONSISTENCY_CASES = [
    (1, 2),
    (1, 70),
    (2, 3),
    (3, 7),
    (4, 8),
    (6, 8),
    (7, 13),
    (8, 64),
    (31, 64),
    (33, 70),
    (69, 70),
]


def good_inclusion(size: int, index: int) -> Inclusion:
    tree = leaves(size)
    return Inclusion(index, size, tree[index], inclusion_proof(index, tree), root(tree))


def good_consistency(old: int, new: int) -> Consistency:
    tree = leaves(new)
    return Consistency(old, new, root(tree[:old]), root(tree), consistency_proof(old, tree))


def accepted(probes: dict[str, Callable[[], None]]) -> list[str]:
    """The probes that were not refused with a ProofError."""
    passed = []
    for name, verify in probes.items():
        try:
            verify()
        except ProofError:
            continue
        passed.append(name)
    return passed


@pytest.mark.parametrize(("size", "index"), INCLUSION_CASES)
def test_corrupted_inclusion_proofs_are_refused(size: int, index: int) -> None:
    good = good_inclusion(size, index)
    good.verify()
    probes = inclusion_probes(good)
    assert len(probes) >= 15 + 4 * len(good.proof)

    assert accepted({name: probe.verify for name, probe in probes.items()}) == []


@pytest.mark.parametrize(("size", "index"), INCLUSION_CASES)
def test_corrupted_inclusion_proofs_are_refused_after_every_good_one(size: int, index: int) -> None:
    """``Inclusions`` that proved every other leaf of the tree (its walks remembered) still
    refuses each corrupted proof, as ``verify_inclusion`` does."""
    good = good_inclusion(size, index)
    tree = leaves(size)
    proven = Inclusions(size, good.root)
    for other in range(size):
        proven.verify(other, tree[other], inclusion_proof(other, tree))
    probes = inclusion_probes(good)

    def after_the_good(probe: Inclusion) -> Callable[[], None]:
        if probe.size != size or probe.root != good.root:
            return probe.verify  # another tree: ``Inclusions`` is of one
        return lambda: proven.verify(probe.index, probe.leaf, probe.proof)

    assert accepted({name: after_the_good(probe) for name, probe in probes.items()}) == []


@pytest.mark.parametrize(("old", "new"), CONSISTENCY_CASES)
def test_corrupted_consistency_proofs_are_refused(old: int, new: int) -> None:
    good = good_consistency(old, new)
    good.verify()
    probes = consistency_probes(good)
    assert len(probes) >= 21 + 4 * len(good.proof)

    assert accepted({name: probe.verify for name, probe in probes.items()}) == []


@pytest.mark.parametrize(("cut", "extra", "count"), [(3, [], 3), (4, [SOME_HASH], 5)])
def test_a_proof_of_the_wrong_length_names_the_numbers(
    cut: int, extra: list[bytes], count: int
) -> None:
    good = good_inclusion(13, 5)

    with pytest.raises(
        ProofError, match=rf"^proof has {count} hashes, expected 4 for index 5 in a tree of 13$"
    ):
        good.but(proof=good.proof[:cut] + extra).verify()


def test_a_short_consistency_proof_names_the_numbers() -> None:
    good = good_consistency(7, 13)

    with pytest.raises(
        ProofError,
        match=rf"^proof has {len(good.proof) + 1} hashes, expected "
        rf"{len(good.proof)} from size 7 to size 13$",
    ):
        good.but(proof=[*good.proof, SOME_HASH]).verify()


@pytest.mark.parametrize("index", [13, 14, -1])
def test_inclusion_index_outside_the_tree(index: int) -> None:
    good = good_inclusion(13, 5)

    with pytest.raises(ProofError, match=f"^index {index} is not in a tree of 13$"):
        good.but(index=index).verify()


def test_inclusion_in_an_empty_tree() -> None:
    with pytest.raises(ProofError, match=r"^index 0 is not in a tree of 0$"):
        verify_inclusion(0, 0, LEAVES[0], [], EMPTY_ROOT)


def test_a_proof_hash_of_the_wrong_length_is_named() -> None:
    good = good_inclusion(13, 5)
    proof = [*good.proof[:2], good.proof[2][:31], *good.proof[3:]]

    with pytest.raises(ProofError, match=r"^proof\[2\] has 31 bytes, expected 32$"):
        good.but(proof=proof).verify()


def test_root_mismatch_exposes_expected_and_calculated() -> None:
    good = good_inclusion(13, 5)

    with pytest.raises(RootMismatchError) as caught:
        good.but(root=SOME_HASH).verify()

    assert caught.value.expected == SOME_HASH
    assert caught.value.calculated == good.root
    assert str(caught.value) == (
        f"calculated root {good.root.hex()} does not match expected root {SOME_HASH.hex()}"
    )
    assert caught.value.diagnostics() == str(caught.value)


def test_consistency_mismatch_says_which_root() -> None:
    good = good_consistency(7, 13)

    with pytest.raises(RootMismatchError, match=r"^calculated old root") as old:
        good.but(old_root=SOME_HASH).verify()
    with pytest.raises(RootMismatchError, match=r"^calculated new root") as new:
        good.but(new_root=SOME_HASH).verify()

    assert (old.value.expected, old.value.calculated) == (SOME_HASH, good.old_root)
    assert (new.value.expected, new.value.calculated) == (SOME_HASH, good.new_root)


def test_a_proof_does_not_bind_the_tree_size() -> None:
    """Why a signed tree head signs the tree size along with the root.

    The proof for leaf 0 of 5 leaves also "proves" leaf 0 of a tree of 6 or 8 whose root is
    that of the 5 leaves; no proof can tell, since any hash may stand for a subtree.
    """
    good = good_inclusion(5, 0)

    good.but(size=6).verify()
    good.but(size=8).verify()


def test_old_size_larger_than_new_size() -> None:
    with pytest.raises(ProofError, match=r"^old size 14 is larger than new size 13$"):
        verify_consistency(14, 13, root(leaves(14)), root(leaves(13)), [])


def test_negative_old_size() -> None:
    with pytest.raises(ProofError, match=r"^old size -1 is negative$"):
        verify_consistency(-1, 13, EMPTY_ROOT, root(leaves(13)), [])


def test_from_the_empty_tree_the_proof_is_empty() -> None:
    new_root = root(leaves(13))
    verify_consistency(0, 13, EMPTY_ROOT, new_root, [])

    with pytest.raises(
        ProofError, match=r"^proof has 1 hashes, expected 0 from size 0 to size 13$"
    ):
        verify_consistency(0, 13, EMPTY_ROOT, new_root, [new_root])
    with pytest.raises(RootMismatchError, match=r"^calculated old root e3b0c442"):
        verify_consistency(0, 13, SOME_HASH, new_root, [])


def test_between_equal_sizes_the_proof_is_empty_and_the_roots_equal() -> None:
    same = root(leaves(13))
    verify_consistency(13, 13, same, same, [])

    with pytest.raises(
        ProofError, match=r"^proof has 1 hashes, expected 0 from size 13 to size 13$"
    ):
        verify_consistency(13, 13, same, same, [same])
    with pytest.raises(RootMismatchError):
        verify_consistency(13, 13, same, SOME_HASH, [])


def test_the_module_is_pure() -> None:
    """No I/O, no clock: the tree imports hashing and typing, nothing else."""
    tree = ast.parse(Path(merkle.__file__).read_text("utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }

    assert imported <= {"__future__", "collections", "hashlib", "gsoia"}


# --- properties -----------------------------------------------------------------------------

PROPERTIES = settings(
    deadline=None, max_examples=examples(200), suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def trees(draw: st.DrawFn) -> list[bytes]:
    """A tree of 1 to 300 leaves, its entries salted so that trees differ between examples."""
    size = draw(st.integers(min_value=1, max_value=300))
    salt = draw(st.binary(max_size=4))
    return [leaf_hash(salt + i.to_bytes(2, "big")) for i in range(size)]


@PROPERTIES
@given(tree=trees(), data=st.data())
def test_inclusion_proofs_verify_and_any_flipped_bit_is_caught(
    tree: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(tree) - 1), label="index")
    proof = inclusion_proof(index, tree)
    expected_root = root(tree)

    verify_inclusion(index, len(tree), tree[index], proof, expected_root)

    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="which")
        bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
        proof[which] = flip(proof[which], bit)
        with pytest.raises(RootMismatchError):
            verify_inclusion(index, len(tree), tree[index], proof, expected_root)


@PROPERTIES
@given(tree=trees(), data=st.data())
def test_inclusions_of_a_run_of_leaves_verify_and_a_flipped_bit_is_caught_late(
    tree: list[bytes], data: st.DataObject
) -> None:
    """The leaves of a run proven in one ``Inclusions`` (as a batch's receipts are), then
    one more proof with a bit flipped: refused, wherever the bit, as alone."""
    first = data.draw(st.integers(min_value=0, max_value=len(tree) - 1), label="first")
    last = data.draw(st.integers(min_value=first, max_value=len(tree) - 1), label="last")
    proven = Inclusions(len(tree), root(tree))
    for index in range(first, last + 1):
        proven.verify(index, tree[index], inclusion_proof(index, tree))

    index = data.draw(st.integers(min_value=first, max_value=last), label="index")
    proof = inclusion_proof(index, tree)
    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="which")
        bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
        proof[which] = flip(proof[which], bit)
        with pytest.raises(RootMismatchError):
            proven.verify(index, tree[index], proof)
    with pytest.raises(RootMismatchError):
        proven.verify(index, flip(tree[index], 0), inclusion_proof(index, tree))


@PROPERTIES
@given(tree=trees(), data=st.data())
def test_consistency_proofs_verify_and_any_flipped_bit_is_caught(
    tree: list[bytes], data: st.DataObject
) -> None:
    old_size = data.draw(st.integers(min_value=0, max_value=len(tree)), label="old_size")
    proof = consistency_proof(old_size, tree)
    old_root, new_root = root(tree[:old_size]), root(tree)

    verify_consistency(old_size, len(tree), old_root, new_root, proof)
    assert CompactRange.from_leaves(tree[:old_size]).root() == old_root

    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="which")
        bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
        proof[which] = flip(proof[which], bit)
        with pytest.raises(RootMismatchError):
            verify_consistency(old_size, len(tree), old_root, new_root, proof)
