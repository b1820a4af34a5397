"""The decision rules as a pycasbin ABAC model, over precomputed request-object attributes.

The request is ``(sub, obj, act)`` where ``sub`` and ``obj`` are plain objects whose
attributes the matcher reads (casbin's ABAC style): ``sub.Nation``, ``sub.Rank`` (clearance
rank on the benchmark date; -1 = uncleared or expired), ``sub.Topics``; ``obj.Originator``,
``obj.Rank``, ``obj.Releasable`` (groups expanded), ``obj.Custodian``, ``obj.Consented``,
``obj.Need`` and ``obj.Required`` — per foreign nation for which rules 3-5 pass, the rank of
the equivalent level under the governing agreement (``precompute.Resolver``). One policy
line (``p, read``) grants the action; the matcher is the rule set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import casbin
from casbin.model import Model
from casbin.persist.adapters import StringAdapter

from precompute import Resolver

MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && ( \
(r.sub.Nation == r.obj.Originator && r.sub.Rank >= r.obj.Rank && r.obj.Need <= r.sub.Topics) \
|| (r.sub.Nation != r.obj.Originator \
&& r.sub.Nation in r.obj.Releasable \
&& (r.obj.Custodian == r.obj.Originator || r.obj.Custodian == r.sub.Nation \
|| r.sub.Nation in r.obj.Consented) \
&& r.sub.Nation in r.obj.Required \
&& r.sub.Rank >= r.obj.Required[r.sub.Nation] \
&& r.obj.Need <= r.sub.Topics))
"""

POLICY = "p, read"


# Attribute names in casbin's ABAC style (``r.sub.Nation``).
@dataclass(frozen=True, slots=True)
class Sub:
    Nation: str
    Rank: int
    Topics: frozenset[str]


@dataclass(frozen=True, slots=True)
class Obj:
    Originator: str
    Rank: int
    Releasable: frozenset[str]
    Custodian: str
    Consented: frozenset[str]
    Need: frozenset[str]
    Required: dict[str, int]


def make_model() -> Model:
    model = Model()
    model.load_model_from_text(MODEL)  # the matcher's lines are joined by Python's ``\``
    return model


class CasbinEngine:
    """An enforcer built once; ``decide`` enforces each (sub, obj) pair."""

    def __init__(
        self,
        resolver: Resolver,
        subjects: Sequence[dict[str, Any]],
        labels: dict[int, dict[str, Any]],
    ) -> None:
        self.enforcer = casbin.Enforcer(make_model(), StringAdapter(POLICY))
        self.subs = {
            s["id"]: Sub(
                s["nation"], resolver.clearance_rank(s), frozenset(s.get("need_to_know", []))
            )
            for s in subjects
        }
        self.objs = {}
        for index, label in labels.items():
            originator = label["originator"]
            self.objs[index] = Obj(
                originator,
                resolver.ranks[originator][label["classification"]],
                frozenset(resolver.expand(label.get("releasable_to", []))),
                label.get("custodian") or originator,
                frozenset(resolver.expand(label.get("consented_to", []))),
                frozenset(label.get("need_to_know", [])),
                resolver.required_by_nation(label),
            )

    def requests(self, pairs: Sequence[tuple[dict[str, Any], int]]) -> list[tuple[Any, ...]]:
        return [(self.subs[s["id"]], self.objs[i], "read") for s, i in pairs]

    def decide(self, requests: list[tuple[Any, ...]]) -> list[bool]:
        enforce = self.enforcer.enforce
        return [bool(enforce(*r)) for r in requests]
