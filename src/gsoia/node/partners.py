"""A partner's node stands for its cleared readers: the decision a release is made on.

When this node releases an item to a partner nation, nobody of that nation is asking yet:
its node will decide again for each reader. So the release is decided (rules 1-5 of the
foreign rules, docs/decision.md) for the partner's most cleared reader who holds the
item's topics: what no reader of that nation could ever see is not sent. Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from gsoia.decision import Decision, Label, Rulebook, Subject
from gsoia.decision.request import categories_of


def partner_subject(rulebook: Rulebook, nation: str, label: Label) -> Subject:
    """The reader a partner's node stands for: its top level, the item's topics and
    security categories (its node decides them again for each reader)."""
    subject: Subject = {
        "id": f"{nation} (for its cleared readers)",
        "nation": nation,
        "clearance": rulebook.catalogue.policies[nation].levels[-1].id,
        "need_to_know": list(label.get("need_to_know", [])),
    }
    categories = categories_of(label)
    if categories:
        subject["categories"] = categories
    return subject


def partner_decision(
    rulebook: Rulebook,
    label: Label,
    nation: str,
    *,
    custodian: str | None,
    consented_to: Collection[str],
    at: dt.date,
) -> Decision:
    """The decision on releasing ``label``'s item, held by ``custodian``, to ``nation``."""
    return rulebook.decide_parsed(
        partner_subject(rulebook, nation, label),
        label,
        custodian=custodian,
        consented_to=consented_to,
        at=at,
    )
