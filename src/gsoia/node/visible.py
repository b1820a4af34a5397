"""Which mirrored rows a subject may see: ``decide_many`` over the label columns, then the
few rows whose labels carry security categories decided on them (docs/decision.md,
"Categories").

The columns hold no categories: a row with categories passes ``decide_many`` on the rest
of its label, and is then refused where the subject lacks what the standard asks of its
categories (``lacking``). Categories only ever take away, so this is exactly the decision;
a listing without items of categories does no more than ``decide_many``.
"""

from __future__ import annotations

import datetime as dt

from gsoia.decision import Rulebook, Subject
from gsoia.decision.categories import lacking
from gsoia.node.columns import Snapshot
from gsoia.node.vault import BoolArray


def visible_rows(
    rulebook: Rulebook, subject: Subject, snapshot: Snapshot, day: dt.date
) -> BoolArray:
    """Per row of ``snapshot``: may ``subject`` see its item on ``day``."""
    table = snapshot.table
    allowed = rulebook.decide_many(subject, table, at=day)
    if not snapshot.categorized:
        return allowed
    held = subject.get("categories") or {}
    codes, policies = rulebook.codes, rulebook.catalogue.policies
    areas = len(codes.areas)
    for row, categories in snapshot.categorized.items():
        if row < len(allowed) and allowed[row]:
            policy_code, _ = codes.level_of[int(table.key[row]) // areas]
            try:
                lacks = lacking(policies[codes.policies[policy_code]], categories, held)
            except KeyError:  # a tag its policy lacks: a column edited behind the node's back
                lacks = ["an unknown tag"]
            if lacks:
                allowed[row] = False
    return allowed
