"""The decision rules as Cedar policies (cedarpy), over precomputed entity attributes.

Entities:

- ``Person::"<id>"`` (principal): ``nation``, ``rank`` (clearance rank in its own policy on
  the benchmark date; -1 = uncleared or expired), ``topics`` (need-to-know held).
- ``Item::"<n>"`` (resource): ``originator``, ``rank`` (the label's level rank),
  ``releasable`` (nations, groups expanded), ``custodian``, ``consented`` (nations),
  ``need`` (topics required), and ``required``: a record ``{NATION: rank}`` holding, for
  every foreign nation for which rules 3-5 pass (agreement in force or surviving, in
  scope, with an equivalent), the rank of the equivalent level under the governing
  agreement — precomputed by ``precompute.Resolver`` for this item's custodian.

Policies: one for the same-nation rules (clearance, need-to-know) and, because Cedar
cannot index a record by an attribute's value, one per nation for the foreign rules
(releasable, third party, rules 3-5 via ``required``, clearance against the equivalent,
need-to-know). Everything not permitted is denied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import cedarpy

from precompute import Resolver

DOMESTIC = """
permit (principal, action == Action::"read", resource)
when {
  principal.nation == resource.originator &&
  principal.rank >= resource.rank &&
  principal.topics.containsAll(resource.need)
};
"""

FOREIGN = """
permit (principal, action == Action::"read", resource)
when {{
  principal.nation == "{n}" && resource.originator != "{n}" &&
  resource.releasable.contains("{n}") &&
  (resource.custodian == resource.originator || resource.custodian == "{n}" ||
   resource.consented.contains("{n}")) &&
  resource.required has "{n}" && principal.rank >= resource.required["{n}"] &&
  principal.topics.containsAll(resource.need)
}};
"""


def policies_text(nations: Sequence[str]) -> str:
    return DOMESTIC + "".join(FOREIGN.format(n=n) for n in nations)


def person_uid(subject: dict[str, Any]) -> dict[str, str]:
    return {"type": "Person", "id": subject["id"]}


def item_uid(index: int) -> dict[str, str]:
    return {"type": "Item", "id": str(index)}


def entities(
    resolver: Resolver,
    subjects: Sequence[dict[str, Any]],
    labels: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Cedar entities (JSON form) for the subjects and the labels (by index)."""
    out: list[dict[str, Any]] = []
    for subject in subjects:
        out.append(
            {
                "uid": person_uid(subject),
                "attrs": {
                    "nation": subject["nation"],
                    "rank": resolver.clearance_rank(subject),
                    "topics": list(subject.get("need_to_know", [])),
                },
                "parents": [],
            }
        )
    for index, label in labels.items():
        originator = label["originator"]
        out.append(
            {
                "uid": item_uid(index),
                "attrs": {
                    "originator": originator,
                    "rank": resolver.ranks[originator][label["classification"]],
                    "releasable": sorted(resolver.expand(label.get("releasable_to", []))),
                    "custodian": label.get("custodian") or originator,
                    "consented": sorted(resolver.expand(label.get("consented_to", []))),
                    "need": list(label.get("need_to_know", [])),
                    "required": resolver.required_by_nation(label),
                },
                "parents": [],
            }
        )
    return out


class CedarEngine:
    """Parsed once (policy set and entity store handles); ``decide`` runs one batch."""

    def __init__(
        self,
        resolver: Resolver,
        nations: Sequence[str],
        subjects: Sequence[dict[str, Any]],
        labels: dict[int, dict[str, Any]],
    ) -> None:
        self.policies = cedarpy.PolicySet.from_str(policies_text(nations))
        self.permit_all = cedarpy.PolicySet.from_str("permit (principal, action, resource);")
        self.entities = cedarpy.Entities.from_json_str(
            json.dumps(entities(resolver, subjects, labels))
        )

    @staticmethod
    def requests(pairs: Sequence[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        """Cedar requests for (subject, label index) pairs."""
        action = {"type": "Action", "id": "read"}
        return [
            {"principal": person_uid(s), "action": action, "resource": item_uid(i), "context": {}}
            for s, i in pairs
        ]

    def decide(self, requests: list[dict[str, Any]]) -> list[bool]:
        results = cedarpy.is_authorized_batch(requests, self.policies, self.entities)
        return [bool(r.allowed) for r in results]

    def decide_permit_all(self, requests: list[dict[str, Any]]) -> list[bool]:
        """The same batch against one unconditional permit: Cedar's floor cost per request."""
        results = cedarpy.is_authorized_batch(requests, self.permit_all, self.entities)
        return [bool(r.allowed) for r in results]

    def errors(self, requests: list[dict[str, Any]]) -> int:
        """How many requests hit an evaluation error (a broken encoding, not a denial)."""
        results = cedarpy.is_authorized_batch(requests, self.policies, self.entities)
        return sum(1 for r in results if r.diagnostics.errors)
