"""Releasability as a SPIF says it: the categories of a policy's permissive tag
``Releasable To`` (as in NATO's SPIF), each a nation or group.

An item's ``releasable_to`` is that tag's categories where the policy has the tag and
every name is a category of it allowed at the item's level; otherwise the SPIF has no way
to say it, and nothing is said (a label its SPIF would refuse is never written).
"""

from __future__ import annotations

from collections.abc import Sequence

from gsoia.catalogue.categories import CategoryKind
from gsoia.catalogue.model import Policy

RELEASABLE_TO = "Releasable To"
"""The tag whose categories are the nations and groups an item is releasable to."""


def releasable_values(policy: Policy, level_id: str, names: Sequence[str] | None) -> list[str]:
    """``names`` as the categories of the policy's ``Releasable To`` at ``level_id``, or
    none where the policy cannot say them (see the module's docstring)."""
    tag = policy.tags.get(RELEASABLE_TO)
    if not names or tag is None or tag.kind.rule != CategoryKind.PERMISSIVE:
        return []
    allowed = {value.name for value in tag.values if level_id not in value.excluded}
    if not set(names) <= allowed or (tag.single and len(names) > 1):
        return []
    return list(names)
