"""The display marking of a decision: the dual marking (docs/decision.md §4), each level
in its policy's SPIF display marking where the policy has a SPIF.

A policy has a SPIF when the catalogue gives it an object identifier (``oid``, as a SPIF
import does): its level is then marked as its SPIF's marking data says
(``marking.display_marking``: ``NATO RESTRICTED Releasable to Japan, Switzerland``), the
originator's with the item's releasability where the SPIF can say it
(``releasable.releasable_values``). A level of a policy without one keeps today's marking
(``JPN 極秘``), so a catalogue without SPIFs gives every display marking as decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gsoia.catalogue.model import Catalogue
from gsoia.decision.ruling import LevelRef, Marking
from gsoia.labels_xml.label_check import CheckedLabel
from gsoia.labels_xml.marking import display_marking
from gsoia.labels_xml.releasable import RELEASABLE_TO, releasable_values


def marking_display(catalogue: Catalogue, marking: Marking, released: Sequence[str] | None) -> str:
    """``marking`` as its SPIFs display it, the originator's level with ``released`` (the
    item's ``releasable_to``) where its SPIF can say it; ``marking.text`` where neither
    policy has a SPIF."""
    level, original = marking.level, marking.original
    if not _has_spif(catalogue, level.policy) and not _has_spif(catalogue, original.policy):
        return marking.text
    mine = _level_text(catalogue, original, released)
    if marking.agreement is None:
        return mine
    return f"{_level_text(catalogue, level, None)} // {mine} // {marking.agreement}"


def banner_text(catalogue: Catalogue, item: Mapping[str, Any]) -> str:
    """The banner of an item as a reader sees it (an item view: ``marking`` and
    ``label``): its marking's ``display``, or as ``marking_display`` gives it."""
    marking = item["marking"]
    if "display" in marking:
        return str(marking["display"])
    agreement = item.get("agreement") if " // " in marking["text"] else None
    decided = marking_of(marking, agreement)
    return marking_display(catalogue, decided, item["label"].get("releasable_to"))


def marking_of(marking: Mapping[str, Any], agreement: str | None) -> Marking:
    """A marking as ``Marking.to_dict`` gives it, with its decision's ``agreement``."""
    return Marking(_ref(marking["level"]), _ref(marking["original"]), agreement)


def _ref(level: Mapping[str, str]) -> LevelRef:
    return LevelRef(level["policy"], level["id"], level["name"])


def _has_spif(catalogue: Catalogue, policy_id: str) -> bool:
    policy = catalogue.policies.get(policy_id)
    return policy is not None and policy.oid is not None


def _level_text(catalogue: Catalogue, ref: LevelRef, released: Sequence[str] | None) -> str:
    policy = catalogue.policies[ref.policy]
    level = policy.levels[policy.ranks[ref.id]]
    if policy.oid is None:
        return f"{ref.policy} {level.name}"
    values = releasable_values(policy, ref.id, released)
    return display_marking(CheckedLabel(level, {RELEASABLE_TO: values} if values else {}), policy)
