"""Who may do what on this node: one table of actions, and the one place that answers
"may this actor do this action on this target, and if not, why not".

Every way in asks here: the REST API, TAXII, the web pages (each route is mapped to its
action in ``gsoia.node.routes``; a route missing there is refused and fails a test) and the CLI.
Pure: no store, no clock, no HTTP. The caller hands in the actor, the action, the target
as the node holds it (an item's copy, the new level of a reclassification, an account as
it would become) and the day; the release decision (``gsoia.decision``) answers for labels.

The checks, in order; the first that fails is the reason (a code of ``Refusal``, or the
release decision's own reason code):
  1. ``UNAUTHENTICATED``: no actor, where the action needs an account.
  2. ``ROLE``: the actor's role is not among the action's roles.
  3. ``FOREIGN_USER``: the action is for users of this node's nation only.
  4. the target: acting on an item requires what reading it requires (the release
     decision for the actor, on the label the node holds); an officer acts as originator
     (consent, reclassification) only on an item of this node's nation
     (``NOT_ORIGINATOR``), and reclassifies only to a level it may read too; a status
     resource is its writer's (``NOT_OWNER``); an admin gives no clearance above its own
     (``ABOVE_OWN_CLEARANCE``) and does not change its own account (``OWN_ACCOUNT``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gsoia.decision import Decision, Label, Rulebook
from gsoia.decision.request import clearance_on
from gsoia.node.errors import Conflict, Denied, Forbidden, NodeError, NotFound, Unauthorized
from gsoia.node.users import Role, User


class Action(StrEnum):
    PUBLIC = "public"
    RECEIVE = "package.receive"
    SELF = "self.view"
    AGREEMENTS = "agreements.view"
    DECIDE = "decide"
    PEERS = "peers.view"
    LIST = "item.list"
    READ = "item.read"
    CREATE = "item.create"
    RELEASE = "item.release"
    WITHDRAW = "item.withdraw"
    RECLASSIFY = "item.reclassify"
    REQUEST_CONSENT = "consent.request"
    CONSENT = "consent.give"
    CONSENT_REQUESTS = "consent.view"
    REPORT_INCIDENT = "incident.report"
    INCIDENTS = "incident.view"
    HANDLE_INCIDENT = "incident.handle"
    AUDIT = "audit.view"
    OUTBOX = "outbox.view"
    CANCEL = "outbox.cancel"
    STATUS = "taxii.status"
    USERS = "users.manage"
    PEERS_MANAGE = "peers.manage"
    METRICS = "metrics.view"
    WITNESS = "audit.witness"
    ACKNOWLEDGE = "witness.acknowledge"
    ASSURANCES = "assurance.manage"
    VISITS = "visit.manage"


class Refusal(StrEnum):
    """Why the authority refused, where the release decision is not the reason."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    ROLE = "ROLE"
    FOREIGN_USER = "FOREIGN_USER"
    NOT_ORIGINATOR = "NOT_ORIGINATOR"
    ORIGINATOR = "ORIGINATOR"
    NOT_OWNER = "NOT_OWNER"
    ABOVE_OWN_CLEARANCE = "ABOVE_OWN_CLEARANCE"
    OWN_ACCOUNT = "OWN_ACCOUNT"
    UNMAPPED = "UNMAPPED"
    """A route the table of routes does not know: refused, never let through."""


@dataclass(frozen=True)
class Operator:
    """Whoever runs the CLI on the node's data directory: it holds the node's keys and
    database, so the node's own rules bind it only as far as the keys do."""

    id: str = "cli"


OPERATOR = Operator()

Actor = User | Operator | None
"""Who acts: a user signed in, the operator at the CLI, or nobody (no credentials)."""


@dataclass(frozen=True)
class Copy:
    """An item as this node holds it: the label its originator wrote, and its custody."""

    id: str
    label: Label
    custodian: str
    consented_to: Sequence[str] = ()


@dataclass(frozen=True)
class Account:
    """A user account as a change would leave it (``users.manage``)."""

    id: str
    nation: str
    clearance: str | None = None
    role: Role = Role.ANALYST


@dataclass(frozen=True)
class Target:
    """What an action is done on; each field only for the actions that name it."""

    copy: Copy | None = None
    level: str | None = None
    """``item.reclassify``: the classification the item would get."""
    owner: str | None = None
    """``taxii.status``: the user who posted the envelope."""
    account: Account | None = None
    """``users.manage``: the account acted on, as the change would leave it."""


ANYONE = frozenset({Role.ANALYST, Role.OFFICER, Role.ADMIN})
"""Every account that works with items (not ``monitor``, which only reads the metrics)."""
OFFICERS = frozenset({Role.OFFICER, Role.ADMIN})
ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Rule:
    """Who may do an action, and on what condition (the condition's words for the docs)."""

    roles: frozenset[Role] | None
    """None: no account is needed."""
    own_nation: bool
    condition: str
    on_target: tuple[str, ...] = ()
    """The reason codes a refusal on the action's target can give (``DECISION``: the
    release decision's own), beyond the gate's (``UNAUTHENTICATED``, ``ROLE``,
    ``FOREIGN_USER``)."""
    hidden: bool = False
    """An item the actor may not read is answered as missing (404), not as denied."""


DECISION = "DECISION"
"""In ``Rule.on_target``: the release decision's reason code (CLEARANCE, NEED_TO_KNOW, ...)."""

TABLE: Mapping[Action, Rule] = {
    Action.PUBLIC: Rule(
        None, False, "anyone: the node's identity, health, the sign-in page, static files"
    ),
    Action.RECEIVE: Rule(
        None,
        False,
        "a partner node: each package signed by a pinned peer (checked package by package)",
    ),
    Action.SELF: Rule(ANYONE | {Role.MONITOR}, False, "any account: its own"),
    Action.AGREEMENTS: Rule(ANYONE, False, "any account"),
    Action.DECIDE: Rule(ANYONE, False, "any account (a decision on a request it gives)"),
    Action.PEERS: Rule(ANYONE, False, "any account: the pinned peers and their keys"),
    Action.LIST: Rule(ANYONE, False, "any account; each item listed only where item.read holds"),
    Action.READ: Rule(
        ANYONE, False, "the release decision lets the actor read the item", (DECISION,)
    ),
    Action.CREATE: Rule(
        ANYONE,
        True,
        "the release decision lets the actor read the label it gives the item",
        (DECISION,),
    ),
    Action.RELEASE: Rule(
        ANYONE,
        True,
        "the actor may read the item; then the partner's decision (rules 1-5) decides",
        (DECISION,),
    ),
    Action.WITHDRAW: Rule(
        ANYONE,
        True,
        "the actor may read the object's item (TAXII delete: out of the collection only)",
        (DECISION,),
        hidden=True,
    ),
    Action.RECLASSIFY: Rule(
        OFFICERS,
        True,
        "an item of this node's nation that the actor may read at its level and at the new",
        ("NOT_ORIGINATOR", DECISION),
    ),
    Action.REQUEST_CONSENT: Rule(
        ANYONE,
        True,
        "a copy of another nation's item that the actor may read",
        (DECISION, "ORIGINATOR"),
        hidden=True,
    ),
    Action.CONSENT: Rule(
        OFFICERS,
        True,
        "an item of this node's nation that the actor may read (grant, refuse, or give "
        "without a request)",
        ("NOT_ORIGINATOR", DECISION),
    ),
    Action.CONSENT_REQUESTS: Rule(OFFICERS, True, "the node's queue"),
    Action.REPORT_INCIDENT: Rule(
        ANYONE,
        False,
        "the actor may read the item",
        (DECISION,),
        hidden=True,
    ),
    Action.INCIDENTS: Rule(
        OFFICERS,
        True,
        "the node's incidents; the description withheld where the actor may not read the item",
    ),
    Action.HANDLE_INCIDENT: Rule(
        OFFICERS,
        True,
        "an incident reported on this node: acknowledged, investigated, closed, in that order",
    ),
    Action.AUDIT: Rule(
        OFFICERS,
        True,
        "the whole log; an entry about an item the actor may not read shows only the item's "
        "id (and a refused request's path); another user's search text is withheld",
    ),
    Action.OUTBOX: Rule(OFFICERS, True, "the node's deliveries"),
    Action.CANCEL: Rule(OFFICERS, True, "a delivery not yet made"),
    Action.WITNESS: Rule(
        None,
        False,
        "a partner node: a consistency proof of this node's log, or the head this node holds"
        " of the partner's, asked in a request signed by a pinned peer",
    ),
    Action.ACKNOWLEDGE: Rule(
        OFFICERS,
        True,
        "an alarm that a partner showed two histories of its log (packages from it are"
        " accepted again)",
    ),
    Action.STATUS: Rule(
        ANYONE,
        False,
        "the writer of the envelope, or an officer",
        ("NOT_OWNER",),
    ),
    Action.USERS: Rule(
        frozenset({Role.ADMIN}),
        True,
        "an admin (or the operator at the CLI); an admin gives no clearance above its own "
        "and leaves its own account alone",
        ("ABOVE_OWN_CLEARANCE", "OWN_ACCOUNT"),
    ),
    Action.PEERS_MANAGE: Rule(frozenset(), True, "the operator at the CLI only"),
    Action.ASSURANCES: Rule(
        OFFICERS,
        True,
        "the node's personnel security assurances: issued to a partner, withdrawn, and those"
        " partners issued to it (with the people's names)",
    ),
    Action.VISITS: Rule(
        OFFICERS,
        True,
        "requests for visits: made to a partner (and the visitors' tokens, each shown once),"
        " and those partners made to it, approved, refused, asked more of, or ended early;"
        " each agreement's lead time for requests",
    ),
    Action.METRICS: Rule(
        frozenset({Role.MONITOR, Role.OFFICER, Role.ADMIN}),
        False,
        "a monitor's, an officer's or an admin's token",
    ),
}


@dataclass(frozen=True)
class Verdict:
    """The authority's answer: allowed, or the reason code and a sentence."""

    action: Action | None
    reason: str
    message: str = ""
    decision: Decision | None = None
    hidden: bool = False
    item: str | None = None

    @property
    def allowed(self) -> bool:
        return self.reason == "ALLOW"

    def error(self) -> NodeError | None:
        """The error a refusal raises (None when allowed)."""
        if self.allowed:
            return None
        if self.decision is not None:
            if self.hidden:
                return NotFound(f"no item {self.item}")
            return Denied(self.decision)
        if self.reason == Refusal.UNAUTHENTICATED:
            return Unauthorized(self.message)
        if self.reason == Refusal.ORIGINATOR:
            return Conflict(self.message)
        if self.reason == Refusal.NOT_OWNER:
            return NotFound(self.message)
        return Forbidden(self.message, code=self.reason)

    def check(self) -> Verdict:
        """This verdict, if allowed; its error raised otherwise."""
        error = self.error()
        if error is not None:
            raise error
        return self


_ALLOW = "ALLOW"


class Authority:
    """The node's rules of access, over its catalogue and nation."""

    def __init__(self, rulebook: Rulebook, nation: str) -> None:
        self.rulebook = rulebook
        self.nation = nation

    def decide(self, actor: Actor, action: Action, target: Target, at: dt.date) -> Verdict:
        """May ``actor`` do ``action`` on ``target`` on day ``at``, and if not, why not."""
        rule = TABLE[action]
        if rule.roles is None or isinstance(actor, Operator):
            return Verdict(action, _ALLOW)
        if actor is None:
            return Verdict(action, Refusal.UNAUTHENTICATED, "sign in first")
        gate = self._gate(actor, action, rule)
        if gate is not None:
            return gate
        return self._on_target(actor, action, rule, target, at)

    def admits(self, actor: Actor, action: Action | None) -> Verdict:
        """The checks that need no target (who, which role, which nation): every route's
        gate, before its work (``action`` None: a route without one, refused). The
        target's checks follow in ``decide``."""
        if action is None:
            return Verdict(None, Refusal.UNMAPPED, "no action is mapped to this route")
        rule = TABLE[action]
        if rule.roles is None or isinstance(actor, Operator):
            return Verdict(action, _ALLOW)
        if actor is None:
            return Verdict(action, Refusal.UNAUTHENTICATED, "sign in first")
        return self._gate(actor, action, rule) or Verdict(action, _ALLOW)

    def _gate(self, actor: User, action: Action, rule: Rule) -> Verdict | None:
        assert rule.roles is not None
        if actor.role not in rule.roles:
            allowed = " and ".join(r.value for r in Role if r in rule.roles) or "the operator"
            return Verdict(
                action,
                Refusal.ROLE,
                f"{action.value} is for {allowed} accounts, not {actor.role.value}",
            )
        if rule.own_nation and actor.nation != self.nation:
            return Verdict(
                action,
                Refusal.FOREIGN_USER,
                f"{action.value} is for users of {self.nation}, not {actor.nation}",
            )
        return None

    def _on_target(
        self, actor: User, action: Action, rule: Rule, target: Target, at: dt.date
    ) -> Verdict:
        copy = target.copy
        if (
            action == Action.STATUS
            and target.owner is not None
            and target.owner != actor.id
            and actor.role not in OFFICERS
        ):
            return Verdict(action, Refusal.NOT_OWNER, "no such status resource")
        if action == Action.USERS and target.account is not None:
            return self._on_account(actor, target.account, at)
        if copy is None:
            return Verdict(action, _ALLOW)
        if action in (Action.CONSENT, Action.RECLASSIFY) and (
            copy.label["originator"] != self.nation
        ):
            return Verdict(
                action,
                Refusal.NOT_ORIGINATOR,
                f"only the originator {copy.label['originator']} does {action.value}"
                f" for item {copy.id}",
            )
        decision = self.read_decision(actor, copy, at)
        if not decision.allow:
            return Verdict(action, decision.reason.value, "", decision, rule.hidden, copy.id)
        if action == Action.RECLASSIFY and target.level is not None:
            raised = Copy(copy.id, {**copy.label, "classification": target.level}, copy.custodian)
            at_new = self.read_decision(actor, raised, at)
            if not at_new.allow:
                return Verdict(action, at_new.reason.value, "", at_new, False, copy.id)
        if action == Action.REQUEST_CONSENT and copy.label["originator"] == self.nation:
            return Verdict(
                action,
                Refusal.ORIGINATOR,
                "this node is the originator: consent is its own to give",
            )
        return Verdict(action, _ALLOW, decision=decision)

    def _on_account(self, actor: User, account: Account, at: dt.date) -> Verdict:
        if account.id == actor.id:
            return Verdict(
                Action.USERS, Refusal.OWN_ACCOUNT, "an admin does not change its own account"
            )
        if account.clearance is None:
            return Verdict(Action.USERS, _ALLOW)
        held = clearance_on(actor.subject(), at)
        ranks = self.rulebook.catalogue.policies[actor.nation].ranks
        if (
            account.nation != actor.nation
            or held is None
            or ranks.get(account.clearance, len(ranks)) > ranks[held]
        ):
            return Verdict(
                Action.USERS,
                Refusal.ABOVE_OWN_CLEARANCE,
                f"an admin gives no clearance above its own ({actor.nation} {held or 'none'});"
                " the operator does, at the CLI",
            )
        return Verdict(Action.USERS, _ALLOW)

    def read_decision(self, actor: User, copy: Copy, at: dt.date) -> Decision:
        """The release decision on ``actor`` reading ``copy``."""
        return self.rulebook.decide_parsed(
            actor.subject(),
            copy.label,
            custodian=copy.custodian,
            consented_to=copy.consented_to,
            at=at,
        )

    def may_read(self, actor: User, copy: Copy, at: dt.date) -> bool:
        return self.read_decision(actor, copy, at).allow


# -- what a refusal to read withholds from an audit entry ------------------------------------

KEPT = frozenset({"item", "action"})
"""What an audit entry about an item the viewer may not read still shows of its data: the
item's id, and a refused request's method and path."""


_ITEM_IN_PATH = re.compile(r"/items/([^/?#]{1,64})")


def entry_item(entry: Mapping[str, Any]) -> str | None:
    """The item an audit entry is about: its ``item``, or the item a refused request's
    path names."""
    data = entry.get("data") or {}
    item = data.get("item")
    if isinstance(item, str):
        return item
    action = data.get("action")
    if entry.get("kind") == "refused" and isinstance(action, str):
        found = _ITEM_IN_PATH.search(action)
        if found is not None:
            return found.group(1)
    return None


def withheld(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with its data cut to what ``KEPT`` names; ``withheld`` names what was cut."""
    data = entry.get("data") or {}
    kept = {k: v for k, v in data.items() if k in KEPT}
    cut = sorted(k for k in data if k not in KEPT)
    return {**entry, "data": kept, "withheld": cut}


def without_search(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` (a listing's) with another user's search text withheld."""
    data = dict(entry.get("data") or {})
    filters = dict(data.get("filter") or {})
    if "q" not in filters:
        return dict(entry)
    filters["q"] = None
    data["filter"] = filters
    return {**entry, "data": data, "withheld": ["filter.q"]}
