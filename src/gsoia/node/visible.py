"""Which mirrored rows a subject may see: ``decide_many`` over the label columns, then the
rows whose labels carry security categories decided on them (docs/decision.md,
"Categories").

The columns hold, per row, only the number of its label's set of categories: a row with
categories passes ``decide_many`` on the rest of its label, and is then refused where the
subject lacks what the standard asks of its set (``lacking``, once per distinct set, then
one ``take`` over the rows). Categories only ever take away, so this is exactly the
decision; a listing without items of categories does no more than ``decide_many``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from gsoia.decision import Rulebook, Subject
from gsoia.decision.categories import lacking
from gsoia.node.columns import Snapshot
from gsoia.node.vault import BoolArray


def visible_rows(
    rulebook: Rulebook, subject: Subject, snapshot: Snapshot, day: dt.date
) -> BoolArray:
    """Per row of ``snapshot``: may ``subject`` see its item on ``day``."""
    allowed = rulebook.decide_many(subject, snapshot.table, at=day)
    sets = snapshot.category_sets
    if not sets:
        return allowed
    held = subject.get("categories") or {}
    policies = rulebook.catalogue.policies
    denied = np.zeros(len(sets) + 1, dtype=np.bool_)  # set 0: no categories
    for number, (policy, categories) in enumerate(sets, 1):
        try:
            denied[number] = bool(lacking(policies[policy], categories, held))
        except KeyError:  # a tag its policy lacks: a column edited behind the node's back
            denied[number] = True
    allowed &= ~np.take(denied, snapshot.category)
    return allowed
