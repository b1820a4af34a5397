"""The analyst's pages: the items one may see, one item, a new item with its label.

Who may read a label is shown before it is filed (and on the item's page, to its nation's
readers): for the node's nation and each partner, the decision for a reader of that nation
holding its highest clearance and the item's need-to-know. Under it, "release to a
partner" leads to ``gsoia.web.release``, where the partner's decision is shown before sending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from gsoia.catalogue.model import Catalogue
from gsoia.decision import Decision, Label
from gsoia.decision.request import area_problems, clearance_on, label_problems, parse_batch_label
from gsoia.errors import InputError, Problem, RequestError
from gsoia.labels_xml.banner import marking_display
from gsoia.node.errors import Denied
from gsoia.node.holdings import MAX_CURSOR
from gsoia.node.incidents import INCIDENT_KINDS
from gsoia.node.listing import ListFilter
from gsoia.node.partners import partner_decision
from gsoia.node.users import User
from gsoia.web.bands import Band
from gsoia.web.categories import FIELD, chosen, field_of, label_fields
from gsoia.web.charts import LOOKS, pair_status
from gsoia.web.consents import shown as shown_consents
from gsoia.web.custody import detail, drawing, who
from gsoia.web.site import Site

PAGE = 20
MAX_FIELD = 200
TOPICS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Reader:
    """Whether a reader of ``nation`` (highest clearance, the item's topics) may read it."""

    nation: str
    decision: Decision
    band: Band | None
    marking: str
    """The decision's marking as the SPIFs display it (``marking_display``), else ""."""


def partners(catalogue: Catalogue, nation: str) -> list[str]:
    """Policies that share an agreement (in any status) with ``nation``, catalogue order."""
    linked = {p for a in catalogue.agreements if nation in a.parties for p in a.parties}
    return [p for p in catalogue.policies if p in linked and p != nation]


@dataclass(frozen=True)
class Partner:
    """A nation an item may be offered to, and whether its node is pinned here."""

    nation: str
    name: str
    pinned: bool


def release_partners(site: Site, originator: str) -> list[Partner]:
    """The nations that share an agreement with this node's nation or with the item's
    originator (catalogue order), without those two; pinned peers first."""
    node, catalogue = site.node, site.catalogue
    linked = {*partners(catalogue, node.nation), *partners(catalogue, originator)}
    found = [
        Partner(p, site.policy_name(p), node.exchange.known_peer(p) is not None)
        for p in catalogue.policies
        if p in linked and p not in (node.nation, originator)
    ]
    return sorted(found, key=lambda p: not p.pinned)


def readers(
    site: Site, label: Label, custodian: str | None = None, consented_to: list[str] | None = None
) -> list[Reader]:
    catalogue = site.catalogue
    found = []
    for nation in [site.node.nation, *partners(catalogue, site.node.nation)]:
        decision = partner_decision(
            site.node.rulebook,
            label,
            nation,
            custodian=custodian,
            consented_to=consented_to or [],
            at=site.node.today(),
        )
        marking = decision.marking
        if marking is None:
            found.append(Reader(nation, decision, None, ""))
            continue
        band = site.band(marking.level.policy, marking.level.id)
        shown = marking_display(catalogue, marking, label.get("releasable_to"))
        found.append(Reader(nation, decision, band, shown))
    return found


def _text(value: Any, limit: int = MAX_FIELD) -> str:
    return str(value or "").strip()[:limit]


def _cursor(text: str | None) -> int:
    """The ``cursor`` of the items page (0 if none); ``InputError`` if it is not one."""
    if not text:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 16 and int(text) <= MAX_CURSOR):
        raise InputError.of("cursor", f"the page to show: a whole number from 0 to {MAX_CURSOR}")
    return int(text)


def problem_line(problem: Problem) -> str:
    """A problem as the preview names it: the field, or the category's tag, and why
    (``Sensitivity: 'ATOMAL' is excluded at HI``)."""
    field = _field(problem.place)
    named = field.removeprefix(f"{FIELD}.") if field.startswith(f"{FIELD}.") else field
    return f"{named.replace('_', ' ')}: {problem.reason}"


def _field(place: str) -> str:
    """The form field a problem's place names: ``label.releasable_to[0]`` → releasable_to,
    ``label.categories.Mission[0]`` → categories.Mission."""
    tag = field_of(place)
    if tag is not None:
        return tag
    return place.removeprefix("label.").split(".")[0].split("[")[0]


class ItemForm:
    """The new-item form's fields, as typed (kept when the page comes back with errors)."""

    def __init__(self, form: FormData | None = None) -> None:
        get = form.get if form is not None else (lambda _: None)
        self.title = _text(get("title"), 1000)
        self.classification = _text(get("classification"), 64)
        self.area = _text(get("area"), 64)
        self.releasable_to = [_text(v, 32) for v in form.getlist("releasable_to")] if form else []
        self.need_to_know = _text(get("need_to_know"))
        self.content = str(get("content") or "")
        self.categories = [_text(v) for v in form.getlist(FIELD)] if form else []
        """The category boxes ticked (``TAG=VALUE``), as sent."""

    def topics(self) -> list[str]:
        return [t for t in TOPICS.split(self.need_to_know) if t]

    def label(self, nation: str) -> dict[str, Any]:
        label: dict[str, Any] = {
            "originator": nation,
            "classification": self.classification,
            "releasable_to": self.releasable_to,
            "need_to_know": self.topics(),
        }
        if self.area:
            label["area"] = self.area
        categories = chosen(self.categories)
        if categories:
            label["categories"] = categories
        return label


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/items")
    def list_page(request: Request) -> Response:
        return _list_page(site, request)

    @router.get("/web/items/new")
    def new_form(request: Request) -> Response:
        user = site.user(request)  # the authority admits only users of the node's nation
        return _form_page(site, request, user, ItemForm())

    @router.post("/web/items")
    async def create(request: Request) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        fields = ItemForm(form)
        if form.get("action") == "preview":
            return await run_in_threadpool(_form_page, site, request, user, fields, True)
        try:
            view = await run_in_threadpool(
                node.create_item,
                user,
                fields.label(node.nation),
                fields.title,
                fields.content.encode("utf-8"),
            )
        except (RequestError, Denied) as e:  # each refusal audited, as the REST API's is
            if not (isinstance(e, Denied) and e.audited):
                action = f"{request.method} {request.url.path}"
                await run_in_threadpool(node.refuse, user.id, action, e.diagnostics())
            if isinstance(e, Denied):
                return await run_in_threadpool(
                    _form_page, site, request, user, fields, False, [], e.decision, 403
                )
            return await run_in_threadpool(
                _form_page, site, request, user, fields, False, e.problems, None, 422
            )
        return RedirectResponse(f"/web/items/{view['id']}?created=1", status_code=303)

    @router.get("/web/items/{item_id}")
    def item_page(request: Request, item_id: str) -> Response:
        return _item_page(site, request, item_id)

    @router.post("/web/items/{item_id}/incidents")
    async def report(request: Request, item_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        incident = await run_in_threadpool(
            node.exchange.report_incident,
            user,
            item_id,
            _text(form.get("kind"), 32),
            str(form.get("description") or "")[:10_000],
        )
        return RedirectResponse(
            f"/web/items/{item_id}?incident={incident['id']}#incident", status_code=303
        )


def _list_page(site: Site, request: Request) -> Response:
    """The items the user may see, a page at a time, filtered."""
    node, catalogue = site.node, site.catalogue
    user = site.user(request)
    query = request.query_params
    q, area = _text(query.get("q")), _text(query.get("area"), 64)
    originator, level = _text(query.get("originator"), 32), _text(query.get("level"), 100)
    level_policy, _, level_id = level.rpartition(":")
    filters = ListFilter(
        area=area or None,
        originator=originator or level_policy or None,
        level=level_id or None,
        q=q or None,
    )
    cursor = _cursor(query.get("cursor"))
    found = node.list_items(user, filters, cursor=cursor, limit=PAGE, newest_first=True)
    return site.page(
        request,
        "items.html",
        nav="items",
        items=found["items"],
        total=found["total"],
        next_cursor=found["next"],
        cursor=cursor,
        q=q,
        area=area,
        originator=originator,
        level=level,
        areas=catalogue.areas,
        filtered=any((q, area, originator, level)),
        unsent=node.exchange.unsent(user),
    )


def _item_page(site: Site, request: Request, item_id: str) -> Response:
    """One item: its marking, the decision, who may read it, where it was released."""
    node = site.node
    user = site.user(request)
    view = node.read_item(user, item_id)
    label: Label = view["label"]
    decision = node.rulebook.decide_parsed(
        user.subject(),
        label,
        custodian=view["custodian"],
        consented_to=view["consented_to"],
        at=node.today(),
    )
    shown = readers(site, label, view["custodian"], view["consented_to"])
    marking = view["marking"]
    own = user.nation == node.nation
    custody = node.exchange.custody(user, view["id"]) if own else None
    consents = shown_consents(site, request, view["id"], label["originator"]) if own else {}
    return site.page(
        request,
        "item.html",
        nav="items",
        item=view,
        decision=decision,
        banner=site.band(marking["level"]["policy"], marking["level"]["id"]),
        readers=shown if own else [],
        custody=custody,
        chain=drawing(custody) if custody else None,
        who=who,
        detail=detail,
        partners=(
            release_partners(site, label["originator"]) if user.nation == node.nation else []
        ),
        looks=LOOKS,
        kinds=INCIDENT_KINDS,
        created=request.query_params.get("created") == "1",
        incident=request.query_params.get("incident"),
        consent_partners=partners(site.catalogue, node.nation),
        **consents,
    )


def _form_page(
    site: Site,
    request: Request,
    user: User,
    fields: ItemForm,
    preview: bool = False,
    problems: list[Problem] | None = None,
    denied: Decision | None = None,
    status: int = 200,
) -> Response:
    node, catalogue = site.node, site.catalogue
    policy = catalogue.policies[node.nation]
    held = clearance_on(user.subject(), node.today())
    top = policy.ranks.get(held, -1) if held else -1
    levels = policy.levels[: top + 1]
    problems = list(problems or [])
    shown: list[Reader] = []
    own: Decision | None = None
    if preview:
        try:
            label = parse_batch_label(fields.label(node.nation), "label")
            found = label_problems(catalogue, label, "label", None, [], "label.")
            found += area_problems(catalogue, label.get("area"), "label.area")
            if found:
                raise RequestError(found)
            shown = readers(site, label)
            own = node.rulebook.decide_parsed(user.subject(), label, at=node.today())
        except RequestError as e:
            problems += e.problems
    today = node.today()
    offered = []
    for partner in partners(catalogue, node.nation):
        status_, agreement = pair_status(catalogue, node.nation, partner, today)
        offered.append((partner, agreement.id if agreement else None, LOOKS[status_].words))
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(_field(problem.place), []).append(problem.reason)
    return site.page(
        request,
        "item_new.html",
        status,
        nav="new",
        form=fields,
        levels=levels,
        partners=offered,
        groups=catalogue.groups,
        areas=catalogue.areas,
        problems=problems,
        problem_lines=[problem_line(p) for p in problems],
        errors=errors,
        denied=denied,
        readers=shown,
        own=own,
        preview=preview,
        tags=label_fields(policy),
    )
