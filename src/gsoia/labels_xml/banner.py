"""The text of an item's marking banner: the dual marking (docs/decision.md §4), each
level in its policy's SPIF display marking where the policy has a SPIF.

A policy has a SPIF when the catalogue gives it an object identifier (``oid``, as a SPIF
import does): its level is then marked as its SPIF's marking data says
(``marking.display_marking``: ``NATO RESTRICTED Releasable to Japan, Switzerland``), the
originator's with the item's releasability where the SPIF can say it
(``releasable.releasable_values``). A level of a policy without one keeps today's marking
(``JPN 極秘``), so a catalogue without SPIFs gives every banner unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gsoia.catalogue.model import Catalogue
from gsoia.labels_xml.label_check import CheckedLabel
from gsoia.labels_xml.marking import display_marking
from gsoia.labels_xml.releasable import RELEASABLE_TO, releasable_values


def banner_text(catalogue: Catalogue, item: Mapping[str, Any]) -> str:
    """The banner of an item as a reader sees it (``marking``, ``agreement`` and
    ``label``, as a node's item view has them)."""
    marking = item["marking"]
    text: str = marking["text"]
    level, original = marking["level"], marking["original"]
    if not _has_spif(catalogue, level["policy"]) and not _has_spif(catalogue, original["policy"]):
        return text
    released = item["label"].get("releasable_to")
    mine = _level_text(catalogue, original["policy"], original["id"], released)
    agreement = item.get("agreement")
    if agreement is None or " // " not in text:
        return mine
    theirs = _level_text(catalogue, level["policy"], level["id"], None)
    return f"{theirs} // {mine} // {agreement}"


def _has_spif(catalogue: Catalogue, policy_id: str) -> bool:
    policy = catalogue.policies.get(policy_id)
    return policy is not None and policy.oid is not None


def _level_text(
    catalogue: Catalogue, policy_id: str, level_id: str, released: Sequence[str] | None
) -> str:
    policy = catalogue.policies[policy_id]
    level = policy.levels[policy.ranks[level_id]]
    if policy.oid is None:
        return f"{policy_id} {level.name}"
    values = releasable_values(policy, level_id, released)
    return display_marking(CheckedLabel(level, {RELEASABLE_TO: values} if values else {}), policy)
