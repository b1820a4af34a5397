"""Security categories on the web pages, in process (tests/node/test_categories_node.py's
catalogue: Japan's ``Sensitivity`` with ATOMAL excluded at HI, a permissive ``Mission``,
here a single-selection tag):
the new-item form sets an item's categories, refuses one excluded at its level (shown next
to its field, audited) and previews them; the accounts page shows a user's categories and
sets them, refusing unknown ones (named, audited)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gsoia.api.app import create_app
from gsoia.node.authority import OPERATOR
from gsoia.node.service import Node
from gsoia.node.users import Role
from tests import loopback
from tests.node.test_areas import refusals, stored
from tests.node.test_categories_node import add_users, categorized_catalogue

USERS: dict[str, tuple[Role, dict[str, list[str]] | None]] = {
    "admin": (Role.ADMIN, None),
    "atomal": (Role.ANALYST, {"Sensitivity": ["ATOMAL"], "Mission": ["ALPHA"]}),
    "plain": (Role.ANALYST, None),
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Served:
    node: Node
    tokens: dict[str, str]
    transport: httpx.BaseTransport

    def signed_in(self, user: str) -> tuple[httpx.Client, str]:
        """A web client signed in as ``user``, and its CSRF token."""
        web = httpx.Client(base_url="http://jpn.test", transport=self.transport)
        form = web.get("/web/sign-in")
        match = CSRF.search(form.text)
        assert match, form.text
        signed = web.post("/web/sign-in", data={"csrf": match.group(1), "token": self.tokens[user]})
        assert signed.status_code == 303, signed.text
        match = CSRF.search(web.get("/web/items/new").text)
        assert match
        return web, match.group(1)

    def stored(self) -> int:
        return stored(self.node)

    def refusals(self) -> list[dict[str, Any]]:
        return refusals(self.node)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = Path(tmp_path_factory.mktemp("webcat"))
    node = Node.init(root / "jpn", "JPN", catalogue=_single_mission(root / "catalogue.yaml"))
    tokens = add_users(node, USERS)
    try:
        yield Served(node, tokens, loopback.InProcess(create_app(node)))
    finally:
        node.close()


def _single_mission(path: Path) -> str:
    """The categorized catalogue, its ``Mission`` tag a single-selection one."""
    document = yaml.safe_load(Path(categorized_catalogue(path)).read_text("utf-8"))
    [tag_set] = document["policies"]["JPN"]["categories"]
    next(tag for tag in tag_set["tags"] if tag["name"] == "Mission")["single"] = True
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    return str(path)


def _item_form(csrf: str, *categories: str, **changes: str) -> dict[str, Any]:
    return {
        "csrf": csrf,
        "title": "Patrol",
        "classification": "GOKUHI",
        "releasable_to": "CAN",
        "need_to_know": "maritime",
        "content": "x",
        "categories": list(categories),
        "action": "create",
    } | changes


def test_the_new_item_form_offers_the_policys_tags_and_files_the_chosen_categories(
    served: Served,
) -> None:
    web, csrf = served.signed_in("atomal")
    page = web.get("/web/items/new").text
    assert "<legend>Sensitivity" in page
    assert 'value="Sensitivity=ATOMAL"' in page
    assert "not at HI" in page
    # a single-selection tag: a select, "none" first
    assert re.search(r'<select id="label-cat-\d+" name="categories">\s*<option value="">none', page)
    assert '<option value="Mission=BRAVO">BRAVO</option>' in page
    assert 'value="Releasable To=' not in page  # the "Releasable to" field says it
    form = _item_form(csrf, "Sensitivity=ATOMAL", "Mission=ALPHA")
    created = web.post("/web/items", data=form)
    assert created.status_code == 303, created.text
    item = created.headers["location"].split("/")[-1].split("?")[0]
    shown = web.get(f"/web/items/{item}").text
    assert "Sensitivity: ATOMAL; Mission: ALPHA" in shown
    with httpx.Client(
        base_url="http://jpn.test",
        transport=served.transport,
        headers={"Authorization": f"Bearer {served.tokens['atomal']}"},
    ) as http:
        label = http.get(f"/api/v1/items/{item}").json()["label"]
    assert label["categories"] == {"Sensitivity": ["ATOMAL"], "Mission": ["ALPHA"]}


def test_a_category_excluded_at_the_level_is_shown_at_its_field_and_audited(
    served: Served,
) -> None:
    web, csrf = served.signed_in("atomal")
    before, refused = served.stored(), len(served.refusals())
    form = _item_form(csrf, "Sensitivity=ATOMAL", classification="HI")
    response = web.post("/web/items", data=form)
    assert response.status_code == 422, response.text
    page = response.text
    assert "label.categories.Sensitivity[0]" in page
    # next to its field, which says it is wrong
    error = re.search(
        r'class="field-error" id="(label-cat-\d+)-error">&#39;ATOMAL&#39; is excluded at HI', page
    )
    assert error, page
    ticked = f'id="{error.group(1)}-\\d+" name="categories" value="Sensitivity=ATOMAL" checked'
    assert re.search(ticked + ' aria-invalid="true"', page)  # kept as ticked
    assert "&#39;ATOMAL&#39; is excluded at HI" in page
    assert served.stored() == before
    [*_, audited] = served.refusals()
    assert len(served.refusals()) == refused + 1
    assert (audited["actor"], audited["data"]["action"]) == ("atomal", "POST /web/items")
    assert "excluded at HI" in audited["data"]["reason"]
    hostile = (["Sensitivity"], ["Nonsense=X"], ["Mission=ALPHA", "Mission=BRAVO"])
    for chosen in hostile:  # not TAG=VALUE; an unknown tag; two of a single-selection tag
        response = web.post("/web/items", data=_item_form(csrf, *chosen))
        assert response.status_code == 422, response.text
    assert "the tag allows one category only" in response.text
    assert served.stored() == before
    assert len(served.refusals()) == refused + 4


def test_the_preview_decides_on_the_categories(served: Served) -> None:
    web, csrf = served.signed_in("plain")
    preview = _item_form(csrf, "Sensitivity=ATOMAL", action="preview")
    page = web.post("/web/items", data=preview).text
    assert 'id="own-decision"' in page  # plain lacks ATOMAL: could not read it
    assert "lacks the categories ATOMAL (Sensitivity)" in page
    page = web.post("/web/items", data=preview | {"classification": "HI"}).text
    assert 'id="own-decision"' not in page
    # the preview (all htmx swaps in) names the category and why, not only its field
    section = re.search(r'<section id="preview".*?</section>', page, re.S)
    assert section, page
    problems = re.findall(r"<li>([^<]*)</li>", section[0])
    assert problems == ["Sensitivity: &#39;ATOMAL&#39; is excluded at HI"]
    page = web.post("/web/items", data=_item_form(csrf, action="preview")).text
    assert 'id="own-decision"' not in page


def test_an_admin_sets_a_users_categories_and_the_user_then_reads_the_item(
    served: Served,
) -> None:
    atomal, csrf = served.signed_in("atomal")
    created = atomal.post("/web/items", data=_item_form(csrf, "Sensitivity=ATOMAL"))
    assert created.status_code == 303, created.text
    item = created.headers["location"].split("?")[0]
    plain, _ = served.signed_in("plain")
    assert plain.get(item).status_code == 403
    admin, csrf = served.signed_in("admin")
    page = admin.get("/web/users").text
    assert "<td>Sensitivity: ATOMAL; Mission: ALPHA</td>" in page  # in the list
    refused = len(served.refusals())
    change = {
        "csrf": csrf,
        "clearance": "KIMITSU",
        "need_to_know": "maritime",
        "role": "analyst",
    }
    response = admin.post("/web/users/plain", data=change | {"categories": ["Sensitivity=NOPE"]})
    assert response.status_code == 422, response.text
    assert "categories.Sensitivity[0]" in response.text
    assert "unknown category &#39;NOPE&#39; of Sensitivity" in response.text
    [*_, audited] = served.refusals()
    assert len(served.refusals()) == refused + 1
    assert (audited["actor"], audited["data"]["action"]) == ("admin", "POST /web/users/plain")
    assert plain.get(item).status_code == 403
    changed = admin.post("/web/users/plain", data=change | {"categories": ["Sensitivity=ATOMAL"]})
    assert changed.status_code == 303, changed.text
    assert served.node.accounts.get(OPERATOR, "plain").user.categories == (
        ("Sensitivity", ("ATOMAL",)),
    )
    assert plain.get(item).status_code == 200  # the same session: the change holds at once


def test_an_admin_adds_an_account_holding_categories_and_unknown_ones_are_refused(
    served: Served,
) -> None:
    admin, csrf = served.signed_in("admin")
    page = admin.get("/web/users").text
    assert 'id="new-cat-1-1"' in page
    assert 'name="categories" value="Mission=BRAVO"' in page  # a holder may hold several
    account = {
        "csrf": csrf,
        "id": "mission",
        "nation": "JPN",
        "clearance": "KIMITSU",
        "role": "analyst",
    }
    refused = len(served.refusals())
    response = admin.post("/web/users", data=account | {"categories": ["Crew=ALPHA"]})
    assert response.status_code == 422, response.text
    assert "unknown category tag &#39;Crew&#39;" in response.text
    assert len(served.refusals()) == refused + 1
    added = admin.post(
        "/web/users", data=account | {"categories": ["Mission=ALPHA", "Mission=BRAVO"]}
    )
    assert added.status_code == 200, added.text
    assert "<td>Mission: ALPHA, BRAVO</td>" in added.text
