"""The kept subtree roots give every MTH and every proof the leaves themselves give."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsoia.audit.levels import Levels
from gsoia.audit.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_path,
    consistency_proof,
    inclusion_path,
    inclusion_proof,
    leaf_hash,
    root,
)
from tests.budget import examples

LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
LEVELS = Levels(LEAVES)


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(0, 299), st.integers(1, 300))
def test_any_range_has_the_root_of_its_leaves(lo: int, n: int) -> None:
    hi = min(lo + n, 300)
    assert LEVELS.mth(lo, hi) == root(LEAVES[lo:hi])


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(1, 300), st.data())
def test_proofs_from_the_levels_are_the_proofs_from_the_leaves(
    size: int, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(0, size))
    grown = Levels(LEAVES[:size])
    assert inclusion_path(index, size, grown.mth) == inclusion_proof(index, LEAVES[:size])
    assert consistency_path(old, size, grown.mth) == consistency_proof(old, LEAVES[:size])
    # and from the larger tree's levels, for a tree it extends
    assert inclusion_path(index, size, LEVELS.mth) == inclusion_proof(index, LEAVES[:size])
    assert consistency_path(old, size, LEVELS.mth) == consistency_proof(old, LEAVES[:size])


def test_levels_grow_leaf_by_leaf() -> None:
    levels = Levels()
    assert levels.size == 0
    assert levels.mth(0, 0) == EMPTY_ROOT
    for n, leaf in enumerate(LEAVES[:70], start=1):
        levels.append(leaf)
        assert levels.size == n
        assert levels.mth(0, n) == root(LEAVES[:n])


def test_out_of_range_and_bad_leaves_are_refused() -> None:
    with pytest.raises(ProofError, match="no subtree 0 to 301"):
        LEVELS.mth(0, 301)
    with pytest.raises(ProofError, match="32 bytes"):
        Levels().append(b"short")
