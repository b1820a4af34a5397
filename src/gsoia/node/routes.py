"""Every route of the served node, by the action it does, and the authority's table as the
docs show it.

A route (its method and the path as declared) is mapped to one ``Action`` of
``gsoia.node.authority``; the REST API, TAXII and the web pages ask the authority to admit
the caller to that action before the route does anything, and refuse a route the map does
not know (``UNMAPPED``). A test fails when a route of the served node is missing here, or
when this names a route the node does not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gsoia.node.authority import ALL_ROLES, DECISION, TABLE, Action, Refusal
from gsoia.node.users import Role

ROUTES: Mapping[tuple[str, str], Action] = {
    # the node's description and identity, open to anyone
    ("GET", "/openapi.json"): Action.PUBLIC,
    ("GET", "/docs"): Action.PUBLIC,
    ("GET", "/docs/oauth2-redirect"): Action.PUBLIC,
    ("GET", "/redoc"): Action.PUBLIC,
    ("GET", "/healthz"): Action.PUBLIC,
    ("GET", "/.well-known/gsoia"): Action.PUBLIC,
    ("GET", "/metrics"): Action.METRICS,
    # federation: packages checked one by one against the pinned peers
    ("POST", "/federation/v1/inbox"): Action.RECEIVE,
    ("POST", "/federation/v1/inbox/batch"): Action.RECEIVE,
    ("GET", "/federation/v1/audit/consistency"): Action.WITNESS,
    ("GET", "/federation/v1/witness/head"): Action.WITNESS,
    # REST
    ("GET", "/api/v1/me"): Action.SELF,
    ("GET", "/api/v1/agreements"): Action.AGREEMENTS,
    ("POST", "/api/v1/decide"): Action.DECIDE,
    ("GET", "/api/v1/peers"): Action.PEERS,
    ("POST", "/api/v1/items"): Action.CREATE,
    ("GET", "/api/v1/items"): Action.LIST,
    ("GET", "/api/v1/items/{item_id}"): Action.READ,
    ("GET", "/api/v1/items/{item_id}/label.xml"): Action.READ,
    ("GET", "/api/v1/items/{item_id}/releases/preview"): Action.RELEASE,
    ("GET", "/api/v1/items/{item_id}/releases"): Action.READ,
    ("GET", "/api/v1/items/{item_id}/custody"): Action.READ,
    ("GET", "/api/v1/items/{item_id}/consents"): Action.READ,
    ("POST", "/api/v1/items/{item_id}/consents/{party}/withdraw"): Action.CONSENT,
    ("POST", "/api/v1/items/{item_id}/releases"): Action.RELEASE,
    ("POST", "/api/v1/releases"): Action.RELEASE,
    ("POST", "/api/v1/items/{item_id}/consents"): Action.CONSENT,
    ("POST", "/api/v1/items/{item_id}/consent-requests"): Action.REQUEST_CONSENT,
    ("GET", "/api/v1/consent-requests"): Action.CONSENT_REQUESTS,
    ("GET", "/api/v1/consent-requests/sent"): Action.CONSENT_REQUESTS,
    ("POST", "/api/v1/consent-requests/{request_id}"): Action.CONSENT,
    ("POST", "/api/v1/items/{item_id}/classification"): Action.RECLASSIFY,
    ("POST", "/api/v1/incidents"): Action.REPORT_INCIDENT,
    ("GET", "/api/v1/incidents"): Action.INCIDENTS,
    ("POST", "/api/v1/incidents/{incident_id}/steps"): Action.HANDLE_INCIDENT,
    ("GET", "/api/v1/audit"): Action.AUDIT,
    ("GET", "/api/v1/audit/head"): Action.AUDIT,
    ("GET", "/api/v1/audit/proof/inclusion"): Action.AUDIT,
    ("GET", "/api/v1/audit/proof/consistency"): Action.AUDIT,
    ("GET", "/api/v1/witness"): Action.AUDIT,
    ("POST", "/api/v1/witness/alarms/{alarm_id}/acknowledge"): Action.ACKNOWLEDGE,
    ("GET", "/api/v1/outbox"): Action.OUTBOX,
    ("POST", "/api/v1/outbox/{package_id}/cancel"): Action.CANCEL,
    ("GET", "/api/v1/users"): Action.USERS,
    ("POST", "/api/v1/users"): Action.USERS,
    ("GET", "/api/v1/users/{user_id}"): Action.USERS,
    ("PATCH", "/api/v1/users/{user_id}"): Action.USERS,
    ("DELETE", "/api/v1/users/{user_id}"): Action.USERS,
    ("POST", "/api/v1/users/{user_id}/disable"): Action.USERS,
    ("POST", "/api/v1/users/{user_id}/enable"): Action.USERS,
    ("POST", "/api/v1/users/{user_id}/rotate-token"): Action.USERS,
    ("POST", "/api/v1/assurances"): Action.ASSURANCES,
    ("GET", "/api/v1/assurances"): Action.ASSURANCES,
    ("POST", "/api/v1/assurances/{assurance_id}/withdraw"): Action.ASSURANCES,
    ("POST", "/api/v1/assurances/{assurance_id}/amend"): Action.ASSURANCES,
    ("POST", "/api/v1/visits"): Action.VISITS,
    ("GET", "/api/v1/visits"): Action.VISITS,
    ("POST", "/api/v1/visits/{visit_id}/approve"): Action.VISITS,
    ("POST", "/api/v1/visits/{visit_id}/refuse"): Action.VISITS,
    ("POST", "/api/v1/visits/{visit_id}/cancel"): Action.VISITS,
    ("POST", "/api/v1/visits/{visit_id}/ask"): Action.VISITS,
    ("POST", "/api/v1/visits/{visit_id}/end"): Action.VISITS,
    ("GET", "/api/v1/visits/{visit_id}/tokens"): Action.VISITS,
    ("GET", "/api/v1/visit-lead-times"): Action.VISITS,
    ("PUT", "/api/v1/visit-lead-times/{agreement_id}"): Action.VISITS,
    # TAXII 2.1
    ("GET", "/taxii2/"): Action.LIST,
    ("GET", "/taxii2/api1/"): Action.LIST,
    ("GET", "/taxii2/api1/status/{status_id}/"): Action.STATUS,
    ("GET", "/taxii2/api1/collections/"): Action.LIST,
    ("GET", "/taxii2/api1/collections/{collection_id}/"): Action.LIST,
    ("GET", "/taxii2/api1/collections/{collection_id}/manifest/"): Action.LIST,
    ("GET", "/taxii2/api1/collections/{collection_id}/objects/"): Action.LIST,
    ("POST", "/taxii2/api1/collections/{collection_id}/objects/"): Action.CREATE,
    ("GET", "/taxii2/api1/collections/{collection_id}/objects/{object_id}/"): Action.LIST,
    ("DELETE", "/taxii2/api1/collections/{collection_id}/objects/{object_id}/"): (Action.WITHDRAW),
    ("GET", "/taxii2/api1/collections/{collection_id}/objects/{object_id}/versions/"): (
        Action.LIST
    ),
    ("GET", "/taxii2/extension-definition"): Action.PUBLIC,
    # web pages
    ("GET", "/"): Action.PUBLIC,
    ("GET", "/web"): Action.PUBLIC,
    ("GET", "/web/"): Action.PUBLIC,
    ("GET", "/web/static/{name}"): Action.PUBLIC,
    ("GET", "/web/sign-in"): Action.PUBLIC,
    ("POST", "/web/sign-in"): Action.PUBLIC,
    ("POST", "/web/sign-out"): Action.SELF,
    ("GET", "/web/items"): Action.LIST,
    ("GET", "/web/items/new"): Action.CREATE,
    ("POST", "/web/items"): Action.CREATE,
    ("GET", "/web/items/{item_id}"): Action.READ,
    ("POST", "/web/items/{item_id}/incidents"): Action.REPORT_INCIDENT,
    ("GET", "/web/items/{item_id}/release"): Action.RELEASE,
    ("POST", "/web/items/{item_id}/release"): Action.RELEASE,
    ("POST", "/web/items/{item_id}/consent-requests"): Action.REQUEST_CONSENT,
    ("POST", "/web/items/{item_id}/consents"): Action.CONSENT,
    ("POST", "/web/items/{item_id}/consents/{party}/withdraw"): Action.CONSENT,
    ("GET", "/web/incidents"): Action.INCIDENTS,
    ("POST", "/web/incidents/{incident_id}/steps"): Action.HANDLE_INCIDENT,
    ("GET", "/web/audit"): Action.AUDIT,
    ("GET", "/web/consent-requests"): Action.CONSENT_REQUESTS,
    ("POST", "/web/consent-requests/{request_id}"): Action.CONSENT,
    ("GET", "/web/outbox"): Action.OUTBOX,
    ("POST", "/web/outbox/{package_id}/cancel"): Action.CANCEL,
    ("GET", "/web/visits"): Action.VISITS,
    ("POST", "/web/visits"): Action.VISITS,
    ("POST", "/web/visits/{visit_id}"): Action.VISITS,
    ("POST", "/web/visits/{visit_id}/tokens"): Action.VISITS,
    ("POST", "/web/visit-lead-times"): Action.VISITS,
    ("GET", "/web/assurances"): Action.ASSURANCES,
    ("POST", "/web/assurances"): Action.ASSURANCES,
    ("POST", "/web/assurances/{assurance_id}"): Action.ASSURANCES,
    ("GET", "/web/users"): Action.USERS,
    ("POST", "/web/users"): Action.USERS,
    ("POST", "/web/users/{user_id}"): Action.USERS,
    ("POST", "/web/users/{user_id}/disable"): Action.USERS,
    ("POST", "/web/users/{user_id}/enable"): Action.USERS,
    ("POST", "/web/users/{user_id}/rotate-token"): Action.USERS,
    ("POST", "/web/users/{user_id}/remove"): Action.USERS,
    ("GET", "/web/agreements"): Action.AGREEMENTS,
    ("GET", "/web/agreements/{agreement_id}"): Action.AGREEMENTS,
    ("GET", "/web/{rest:path}"): Action.PUBLIC,
}
"""Every route of the served node (method, path as declared) and the action it does."""


def route_action(method: str, path: str) -> Action | None:
    """The action of a route (HEAD as GET); None for a route the table does not know."""
    return ROUTES.get(("GET" if method == "HEAD" else method, path))


def scope_action(scope: Mapping[str, Any]) -> Action | None:
    """The action of the route an ASGI request matched (its ``scope["route"]``)."""
    route = scope.get("route")
    return route_action(str(scope.get("method", "")), str(getattr(route, "path", "")))


def unmapped(routes: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The routes among ``routes`` that ``ROUTES`` does not map to an action."""
    return sorted({r for r in routes if route_action(*r) is None})


@dataclass(frozen=True)
class TableRow:
    """One row of the documented table: action, who, condition, refusal codes."""

    action: str
    roles: str
    nation: str
    condition: str
    refusals: str


def refusal_codes(action: Action) -> list[str]:
    """The reason codes a refusal of ``action`` can give, in the order they are checked."""
    rule = TABLE[action]
    if rule.roles is None:
        return []
    codes = [Refusal.UNAUTHENTICATED.value]
    if rule.roles != ALL_ROLES:
        codes.append(Refusal.ROLE.value)
    if rule.own_nation:
        codes.append(Refusal.FOREIGN_USER.value)
    return codes + list(rule.on_target)


def documented() -> list[TableRow]:
    """``TABLE`` as the docs show it."""
    rows = []
    for action, rule in TABLE.items():
        if rule.roles is None:
            roles = "anyone"
        elif not rule.roles:
            roles = "the operator (CLI) only"
        else:
            roles = ", ".join(r.value for r in Role if r in rule.roles)
        codes = [
            "the decision's reason" + (" (answered as 404)" if rule.hidden else "")
            if code == DECISION
            else f"{code} (409)"
            if code == Refusal.ORIGINATOR
            else f"{code} (404)"
            if code == Refusal.NOT_OWNER
            else code
            for code in refusal_codes(action)
        ]
        rows.append(
            TableRow(
                action.value,
                roles,
                "this node's nation" if rule.own_nation else "any nation",
                rule.condition,
                ", ".join(codes) or "—",
            )
        )
    return rows


def markdown_table() -> str:
    """``documented()`` as a Markdown table (docs/access.md holds it)."""
    lines = ["| action | roles | users of | condition | refusal codes |", "|---|---|---|---|---|"]
    lines += [
        f"| `{r.action}` | {r.roles} | {r.nation} | {r.condition} | {r.refusals} |"
        for r in documented()
    ]
    return "\n".join(lines) + "\n"


def routes_table() -> str:
    """``ROUTES`` as a Markdown table, by action (docs/access.md holds it)."""
    lines = ["| action | routes |", "|---|---|"]
    for action in Action:
        routes = [f"`{m} {p}`" for (m, p), a in ROUTES.items() if a == action]
        if routes:
            lines.append(f"| `{action.value}` | {', '.join(routes)} |")
    return "\n".join(lines) + "\n"
