"""Judging a partner's head against the one held: every case, with real trees and proofs."""

from __future__ import annotations

import pytest

from gsoia.audit.log import TreeHead
from gsoia.audit.merkle import consistency_proof, leaf_hash, root
from gsoia.audit.witness import NotAHead, Seen, judge, read_head

LOG = [leaf_hash(f"entry {i}".encode()) for i in range(40)]
OTHER = LOG[:20] + [leaf_hash(f"another {i}".encode()) for i in range(20, 40)]


def head(size: int, leaves: list[bytes] = LOG) -> TreeHead:
    return TreeHead(size, root(leaves[:size]), b"", f"t{size}")


def test_the_first_head_is_kept() -> None:
    assert judge(None, head(5)).seen is Seen.FIRST
    assert judge(None, head(5)).keep


def test_the_same_head_changes_nothing() -> None:
    judged = judge(head(7), head(7))
    assert judged.seen is Seen.SAME
    assert not judged.keep


@pytest.mark.parametrize(("held", "shown"), [(1, 2), (3, 8), (8, 9), (13, 40), (20, 21)])
def test_a_larger_head_proven_to_extend_is_kept(held: int, shown: int) -> None:
    proof = consistency_proof(held, LOG[:shown])
    assert judge(head(held), head(shown)).seen is Seen.NEEDS_PROOF
    judged = judge(head(held), head(shown), proof)
    assert judged.seen is Seen.EXTENDS
    assert judged.keep


@pytest.mark.parametrize(("held", "shown"), [(2, 1), (8, 3), (40, 13)])
def test_an_older_head_proven_a_prefix_is_not_kept(held: int, shown: int) -> None:
    proof = consistency_proof(shown, LOG[:held])
    judged = judge(head(held), head(shown), proof)
    assert judged.seen is Seen.OLDER
    assert not judged.keep


def test_two_roots_for_one_size_are_a_fork() -> None:
    judged = judge(head(25), head(25, OTHER))
    assert judged.seen is Seen.FORKED
    assert "two roots signed for 25 entries" in judged.reason


@pytest.mark.parametrize(("held", "shown"), [(25, 30), (30, 25), (21, 40)])
def test_a_history_rewritten_after_the_head_held_is_a_fork(held: int, shown: int) -> None:
    """OTHER shares LOG's first 20 entries: from 21 on, no proof can join the two."""
    held_head = head(held)
    shown_head = head(shown, OTHER)
    larger = OTHER[:shown] if shown > held else LOG[:held]
    proof = consistency_proof(min(held, shown), larger)  # the best the forker can give
    judged = judge(held_head, shown_head, proof)
    assert judged.seen is Seen.FORKED
    assert "is not a prefix of the head of" in judged.reason


def test_a_malformed_proof_is_a_fork_not_an_error() -> None:
    judged = judge(head(3), head(8), [b"\x00" * 32])
    assert judged.seen is Seen.FORKED


GOOD = {"size": 3, "root": "ab" * 32, "signature": "cd" * 64, "at": "2026-12-07T00:00:00Z"}


def test_a_head_is_read_from_its_four_fields() -> None:
    assert read_head(GOOD) == TreeHead(3, b"\xab" * 32, b"\xcd" * 64, GOOD["at"])


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        GOOD | {"nation": "JPN"},
        {k: v for k, v in GOOD.items() if k != "at"},
        GOOD | {"size": 0},
        GOOD | {"size": True},
        GOOD | {"size": "3"},
        GOOD | {"at": 7},
        GOOD | {"at": "x" * 41},
        GOOD | {"at": "t\n"},
        GOOD | {"root": "zz" * 32},
        GOOD | {"root": "ab" * 31},
        GOOD | {"signature": "cd" * 63},
        GOOD | {"signature": None},
    ],
)
def test_what_is_not_a_head_is_said(data: object) -> None:
    with pytest.raises(NotAHead):
        read_head(data)
