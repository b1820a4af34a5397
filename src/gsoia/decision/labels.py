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
distinct topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gsoia.decision.request import HeldLabel, label_problems, parse_held_label
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

    def __len__(self) -> int:
        return int(self.key.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        return int(self.key.nbytes + self.custodian.nbytes + self.open.nbytes + self.need.nbytes)

    def topic_mask(self, topics: Iterable[str]) -> list[int]:
        """A set of topics as one integer per word of ``need`` (unknown topics dropped)."""
        index = {t: i for i, t in enumerate(self.topics)}
        mask = 0
        for topic in topics:
            if topic in index:
                mask |= 1 << index[topic]
        return [(mask >> (64 * w)) & (2**64 - 1) for w in range(self.need.shape[0])]


def _freeze(value: Any) -> Any:
    return tuple(value) if type(value) is list else value


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
    encoded: dict[tuple[Any, ...], tuple[int, int, int, int]] = {}
    topic_bit: dict[str, int] = {}
    keys: list[int] = []
    custodians: list[int] = []
    opens: list[int] = []
    needs: list[int] = []
    problems: list[Problem] = []
    for i, data in enumerate(labels):
        try:
            signature = tuple((k, _freeze(v)) for k, v in data.items())
            row = encoded.get(signature)
        except (AttributeError, TypeError):  # not a mapping, or unhashable values
            signature, row = None, None
        if row is None:
            place = f"labels[{i}]"
            try:
                label = parse_held_label(data, place)
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
            row = encode_label(codes, label, topic_bit)
            if signature is not None:
                encoded[signature] = row
        keys.append(row[0])
        custodians.append(row[1])
        opens.append(row[2])
        needs.append(row[3])
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
    )


def _words(masks: list[int], words: int) -> npt.NDArray[np.uint64]:
    """Integer bitmasks as ``words`` rows of 64-bit words."""
    if words == 1:
        return np.array(masks, dtype=np.uint64).reshape(1, -1)
    out = np.zeros((words, len(masks)), dtype=np.uint64)
    for w in range(words):
        out[w] = [(m >> (64 * w)) & (2**64 - 1) for m in masks]
    return out
