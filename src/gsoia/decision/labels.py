"""Many labels in columns: the form ``decide_many`` runs over, and the store keeps.

A ``LabelTable`` holds, per label, a few small integers (docs/decision.md §5):

- ``key``: global level x area (see ``gsoia.decision.tables``), 2 bytes;
- ``custodian``: the code of the policy holding the copy, 1 byte;
- ``open``: a bitmask of the nations that pass rules 1 and 2 — releasable to (or the
  originator) AND, for a copy not held by its originator, the custodian, the originator
  or a party the originator consented to; 8 bytes per 64 policies;
- ``need``: a bitmask of the label's need-to-know topics over the table's own topic
  vocabulary; 8 bytes per 64 topics (none if no label has a topic).

About 19 bytes a label for a catalogue of up to 64 policies and labels with up to 64
distinct topics. Labels with security categories (docs/decision.md, "Categories") add:

- ``restricted``: a bitmask of the label's categories of restrictive tags, over the
  table's own (tag, category) vocabulary (none if no label has one);
- ``permitted``: per permissive tag on some label, a bitmask of the label's categories of
  it (zero: the label has none of that tag).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gsoia.catalogue.categories import CategoryKind
from gsoia.decision.request import (
    BatchLabel,
    HeldLabel,
    categories_of,
    label_problems,
    parse_batch_label,
)
from gsoia.decision.tables import Codes
from gsoia.errors import Problem, RequestError

_MAX_PROBLEMS = 20


@dataclass(frozen=True, eq=False)
class LabelTable:
    """Columns of many labels, built for one catalogue (``Rulebook.label_table``)."""

    codes: Codes
    key: npt.NDArray[np.unsignedinteger[Any]]
    custodian: npt.NDArray[np.unsignedinteger[Any]]
    open: npt.NDArray[np.uint64]
    """Shape ``(codes.words, n)``."""
    need: npt.NDArray[np.uint64]
    """Shape ``(ceil(len(topics) / 64), n)``."""
    topics: tuple[str, ...]
    restricted: npt.NDArray[np.uint64] = field(default_factory=lambda: _words([], 0))
    """Shape ``(ceil(len(restricted_names) / 64), n)``."""
    restricted_names: tuple[tuple[str, str], ...] = ()
    """Bit i of ``restricted``: (tag, category)."""
    permitted: tuple[PermittedColumn, ...] = ()

    def __len__(self) -> int:
        return int(self.key.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        return int(self.key.nbytes + self.custodian.nbytes + self.open.nbytes + self.need.nbytes)

    def topic_mask(self, topics: Iterable[str]) -> list[int]:
        """A set of topics as one integer per word of ``need`` (unknown topics dropped)."""
        return _mask(self.topics, topics, self.need.shape[0])

    def restricted_mask(self, held: Mapping[str, Iterable[str]]) -> list[int]:
        """Held categories as one integer per word of ``restricted``."""
        pairs = [(tag, value) for tag, values in held.items() for value in values]
        return _mask(self.restricted_names, pairs, self.restricted.shape[0])


@dataclass(frozen=True, eq=False)
class PermittedColumn:
    """The labels' categories of one permissive tag."""

    tag: str
    names: tuple[str, ...]
    """Bit i of ``masks``: the category ``names[i]``."""
    masks: npt.NDArray[np.uint64]
    """Shape ``(ceil(len(names) / 64), n)``."""

    def mask(self, held: Iterable[str]) -> list[int]:
        return _mask(self.names, held, self.masks.shape[0])


def _mask(vocabulary: tuple[Any, ...], wanted: Iterable[Any], words: int) -> list[int]:
    """The members of ``vocabulary`` in ``wanted`` as ``words`` 64-bit integers."""
    index = {t: i for i, t in enumerate(vocabulary)}
    mask = 0
    for item in wanted:
        if item in index:
            mask |= 1 << index[item]
    return [(mask >> (64 * w)) & (2**64 - 1) for w in range(words)]


@dataclass
class _CategoryBits:
    """The vocabularies of a table's categories, growing as labels are encoded."""

    restricted: dict[tuple[str, str], int] = field(default_factory=dict)
    permitted: dict[str, dict[str, int]] = field(default_factory=dict)

    def encode(self, codes: Codes, label: BatchLabel) -> tuple[int, tuple[tuple[str, int], ...]]:
        categories = categories_of(label)
        if not categories:
            return 0, ()
        tags = codes.catalogue.policies[label["originator"]].tags
        restricted = 0
        permitted = []
        for tag_name, values in categories.items():
            rule = tags[tag_name].kind.rule
            if rule == CategoryKind.RESTRICTIVE:
                for value in values:
                    pair = (tag_name, value)
                    restricted |= 1 << self.restricted.setdefault(pair, len(self.restricted))
            elif rule == CategoryKind.PERMISSIVE and values:
                bits = self.permitted.setdefault(tag_name, {})
                mask = 0
                for value in values:
                    mask |= 1 << bits.setdefault(value, len(bits))
                permitted.append((tag_name, mask))
        return restricted, tuple(permitted)


def _freeze(value: Any) -> Any:
    return tuple(value) if type(value) is list else value


def _freeze_deep(value: Any) -> Any:
    """A label field as a hashable value (a categories mapping as sorted pairs)."""
    if type(value) is dict:
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return _freeze(value)


def encode_label(
    codes: Codes, label: HeldLabel, topic_bit: dict[str, int]
) -> tuple[int, int, int, int]:
    """One checked label as ``(key, custodian, open, need)``; new topics get the next bit."""
    originator = codes.policy_code[label["originator"]]
    custodian = codes.policy_code[label.get("custodian") or label["originator"]]
    masks = codes.masks
    releasable = 1 << originator
    for name in label.get("releasable_to", []):
        releasable |= masks[name]
    # rule 2: a copy held by its originator may go to anyone releasable; any other
    # custodian keeps it, or passes it only where the originator consented.
    if custodian == originator:
        reach = codes.all_mask
    else:
        reach = (1 << originator) | (1 << custodian)
        for name in label.get("consented_to", []):
            reach |= masks[name]
    need = 0
    for topic in label.get("need_to_know", []):
        need |= 1 << topic_bit.setdefault(topic, len(topic_bit))
    key = codes.key(label["originator"], label["classification"], label.get("area"))
    return key, custodian, releasable & reach, need


def build_label_table(codes: Codes, labels: Iterable[Mapping[str, Any]]) -> LabelTable:
    """Validate and encode label dicts; any bad label refuses the whole batch.

    Each dict is a label (docs/decision.md §2) that may carry its own ``custodian`` and
    ``consented_to``. Identical labels are validated once.
    """
    catalogue = codes.catalogue
    encoded: dict[tuple[Any, ...], tuple[tuple[int, int, int, int], Any]] = {}
    topic_bit: dict[str, int] = {}
    category_bits = _CategoryBits()
    restricted: list[int] = []
    permitted: list[tuple[tuple[str, int], ...]] = []
    keys: list[int] = []
    custodians: list[int] = []
    opens: list[int] = []
    needs: list[int] = []
    problems: list[Problem] = []
    for i, data in enumerate(labels):
        try:
            signature = tuple((k, _freeze_deep(v)) for k, v in data.items())
            row = encoded.get(signature)
        except (AttributeError, TypeError):  # not a mapping, or unhashable values
            signature, row = None, None
        if row is None:
            place = f"labels[{i}]"
            try:
                label = parse_batch_label(data, place)
            except RequestError as e:
                problems += e.problems
                if len(problems) >= _MAX_PROBLEMS:
                    break
                continue
            found = label_problems(
                catalogue,
                label,
                place,
                label.get("custodian"),
                label.get("consented_to", []),
                f"{place}.",
            )
            if found:
                problems += found
                if len(problems) >= _MAX_PROBLEMS:
                    break
                continue
            row = (encode_label(codes, label, topic_bit), category_bits.encode(codes, label))
            if signature is not None:
                encoded[signature] = row
        (key, custodian, open_bits, need), (restricts, permits) = row
        keys.append(key)
        custodians.append(custodian)
        opens.append(open_bits)
        needs.append(need)
        restricted.append(restricts)
        permitted.append(permits)
    if problems:
        raise RequestError(problems)
    topics = tuple(sorted(topic_bit, key=topic_bit.__getitem__))
    return LabelTable(
        codes=codes,
        key=np.array(keys, dtype=np.uint16 if codes.keys <= 2**16 else np.uint32),
        custodian=np.array(
            custodians, dtype=np.uint8 if len(codes.policies) <= 2**8 else np.uint16
        ),
        open=_words(opens, codes.words),
        need=_words(needs, (len(topics) + 63) // 64),
        topics=topics,
        restricted=_words(restricted, (len(category_bits.restricted) + 63) // 64),
        restricted_names=tuple(category_bits.restricted),
        permitted=tuple(
            PermittedColumn(
                tag,
                tuple(bits),
                _words([dict(p).get(tag, 0) for p in permitted], (len(bits) + 63) // 64),
            )
            for tag, bits in category_bits.permitted.items()
        ),
    )


def _words(masks: list[int], words: int) -> npt.NDArray[np.uint64]:
    """Integer bitmasks as ``words`` rows of 64-bit words."""
    if words == 1:
        return np.array(masks, dtype=np.uint64).reshape(1, -1)
    out = np.zeros((words, len(masks)), dtype=np.uint64)
    for w in range(words):
        out[w] = [(m >> (64 * w)) & (2**64 - 1) for m in masks]
    return out
