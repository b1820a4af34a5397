"""The node's labels in memory, in the columns ``decide_many`` reads.

The store keeps each item's encoded label (``label_key``, ``custodian_code``, ``open_bits``,
``need_bits``); this mirror holds them as growable numpy arrays, with each item's ``seq``,
so a listing is one ``decide_many`` over views of these arrays — the table is never
rebuilt. New items are appended; a changed label (a consent) is updated in place.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from gsoia.decision.labels import LabelTable
from gsoia.decision.tables import Codes
from gsoia.node.categories import Held, as_dict, frozen

_WORD = 2**64 - 1


def to_bits(mask: int, words: int) -> bytes:
    """An integer bitmask as ``words`` little-endian 64-bit words."""
    return mask.to_bytes(8 * words, "little")


def from_bits(bits: bytes) -> int:
    return int.from_bytes(bits, "little")


@dataclass
class EncodedLabel:
    seq: int
    key: int
    custodian: int
    open: int
    need: int
    categories: dict[str, list[str]] | None = None
    """The label's security categories (None: none): the columns hold the number of the
    distinct set they are (``LabelColumns.category_sets``), decided set by set
    (``gsoia.node.visible``)."""


class LabelColumns:
    """Growable columns of encoded labels, in ``seq`` order."""

    def __init__(self, codes: Codes, topics: list[str]) -> None:
        self.codes = codes
        self.topics = list(topics)  # bit i = topics[i]
        self.size = 0
        self._capacity = 0
        self.seq: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._key: npt.NDArray[np.uint32] = np.zeros(0, dtype=np.uint32)
        self._custodian: npt.NDArray[np.uint16] = np.zeros(0, dtype=np.uint16)
        self._open: npt.NDArray[np.uint64] = np.zeros((codes.words, 0), dtype=np.uint64)
        self._need: npt.NDArray[np.uint64] = np.zeros((self._need_words(), 0), dtype=np.uint64)
        self._row_of: dict[int, int] = {}
        self._category: npt.NDArray[np.uint32] = np.zeros(0, dtype=np.uint32)
        """Per row: the number of its label's set of categories (0: none)."""
        self.category_sets: list[CategorySet] = []
        """The distinct sets of categories of the labels, set n at index n - 1."""
        self._set_number: dict[tuple[str, Held], int] = {}
        self.version = 0
        """Changes with every change of the columns (what a cached listing depends on)."""
        self.lock = threading.RLock()
        """Held by whoever changes the columns (commits publishing, listings catching up)."""

    def _need_words(self) -> int:
        return (len(self.topics) + 63) // 64

    def _grow(self, needed: int) -> None:
        if needed <= self._capacity and self._need.shape[0] == self._need_words():
            return
        capacity = max(needed, 2 * self._capacity, 1024)

        def grown(
            array: npt.NDArray[np.generic], rows: int | None = None
        ) -> npt.NDArray[np.generic]:
            if rows is None:
                out = np.zeros(capacity, dtype=array.dtype)
                out[: self.size] = array[: self.size]
            else:
                out = np.zeros((rows, capacity), dtype=array.dtype)
                out[: array.shape[0], : self.size] = array[:, : self.size]
            return out

        self.seq = grown(self.seq)  # type: ignore[assignment]
        self._key = grown(self._key)  # type: ignore[assignment]
        self._custodian = grown(self._custodian)  # type: ignore[assignment]
        self._open = grown(self._open, self.codes.words)  # type: ignore[assignment]
        self._need = grown(self._need, self._need_words())  # type: ignore[assignment]
        self._category = grown(self._category)  # type: ignore[assignment]
        self._capacity = capacity

    def add_topics(self, topics: list[str]) -> None:
        """Topics newly registered in the store, in bit order (those already known skipped)."""
        with self.lock:
            known = set(self.topics)
            self.topics.extend(t for t in topics if t not in known)
            self._grow(self.size)
            self.version += 1

    def append(self, labels: list[EncodedLabel]) -> None:
        """Add labels in ``seq`` order; those at or below the last seq are already here.

        Both a commit (publishing what it stored) and a listing (catching up with other
        workers) may bring the same rows: whichever comes second adds nothing.
        """
        with self.lock:
            last = int(self.seq[self.size - 1]) if self.size else 0
            fresh = [label for label in labels if label.seq > last]
            if not fresh:
                return
            self._grow(self.size + len(fresh))
            for label in fresh:
                self._set(self.size, label)
                self._row_of[label.seq] = self.size
                self.size += 1
            self.version += 1

    def last_seq(self) -> int:
        with self.lock:
            return int(self.seq[self.size - 1]) if self.size else 0

    def update(self, label: EncodedLabel) -> None:
        with self.lock:
            self._set(self._row_of[label.seq], label)
            self.version += 1

    def _set(self, row: int, label: EncodedLabel) -> None:
        self.seq[row] = label.seq
        self._key[row] = label.key
        self._custodian[row] = label.custodian
        for w in range(self._open.shape[0]):
            self._open[w, row] = (label.open >> (64 * w)) & _WORD
        for w in range(self._need.shape[0]):
            self._need[w, row] = (label.need >> (64 * w)) & _WORD
        self._category[row] = self._set_of(label) if label.categories else 0

    def _set_of(self, label: EncodedLabel) -> int:
        """The number of the label's set of categories, a new one if no label had it."""
        codes = self.codes
        policy_code, _ = codes.level_of[label.key // len(codes.areas)]
        key = (codes.policies[policy_code], frozen(label.categories))
        number = self._set_number.get(key)
        if number is None:
            self.category_sets.append(CategorySet(key[0], as_dict(key[1])))
            number = self._set_number[key] = len(self.category_sets)
        return number

    def table(self) -> LabelTable:
        """A LabelTable over the current rows (views: nothing copied)."""
        n = self.size
        return LabelTable(
            codes=self.codes,
            key=self._key[:n],
            custodian=self._custodian[:n],
            open=self._open[:, :n],
            need=self._need[:, :n],
            topics=tuple(self.topics),
        )

    def seqs(self) -> npt.NDArray[np.int64]:
        return self.seq[: self.size]

    def snapshot(self) -> Snapshot:
        """The table, the seqs of its rows, the version and the rows' sets of categories,
        taken together."""
        with self.lock:
            n = self.size
            sets = tuple(self.category_sets)
            return Snapshot(self.table(), self.seqs(), self.version, self._category[:n], sets)


class CategorySet(NamedTuple):
    """A set of security categories some labels carry, of their originator's policy."""

    policy: str
    categories: dict[str, list[str]]


class Snapshot(NamedTuple):
    """The label columns at one moment (``LabelColumns.snapshot``)."""

    table: LabelTable
    seqs: npt.NDArray[np.int64]
    version: int
    category: npt.NDArray[np.uint32]
    """Per row: the number of its label's set of categories (0: none)."""
    category_sets: tuple[CategorySet, ...]
    """Set n at index n - 1."""
