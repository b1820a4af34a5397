"""Subject areas come from the catalogue: when its agreements name areas, a new item's
area must be one of them, at the REST API and at the web form alike.

A node on a catalogue whose Japan-Canada agreement covers only ``maritime`` and ``cyber``:
an item with another area is refused (422 naming the area, one refusal in the audit log,
nothing stored); the web form offers the named areas and refuses the others the same way
(the form again, naming the area, and one refusal in the audit log).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from gsoia.api import create_app
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries, items
from tests import loopback
from tests.node.conftest import fresh_database

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
AREAS = ["cyber", "maritime"]
DEFAULT_CATALOGUE = Path(__file__).parents[2] / "src/gsoia/catalogue/data/default.yaml"


@dataclass
class Served:
    node: Node
    http: httpx.Client
    web: httpx.Client
    token: str

    def stored(self) -> int:
        return stored(self.node)

    def refusals(self) -> list[dict[str, Any]]:
        return refusals(self.node)


def stored(node: Node) -> int:
    """How many items the node stores."""
    with node.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(items)).scalar_one())


def refusals(node: Node) -> list[dict[str, Any]]:
    """The bodies of the node's ``refused`` audit entries, oldest first."""
    with node.engine.connect() as connection:
        rows = connection.execute(
            select(audit_entries.c.body)
            .where(audit_entries.c.kind == "refused")
            .order_by(audit_entries.c.seq)
        ).scalars()
        return [json.loads(body) for body in rows]


def _catalogue(path: Path) -> Path:
    document = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    for agreement in document["agreements"]:
        if agreement["id"] == "JPN-CAN":
            agreement["scope"] = AREAS
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = Path(tmp_path_factory.mktemp("areas"))
    with fresh_database(request.param) as database:
        catalogue = str(_catalogue(root / "catalogue.yaml"))
        node = Node.init(root / "jpn", "JPN", database=database.url, catalogue=catalogue)
        _, token = node.add_user("analyst", "JPN", clearance="KIMITSU", role=Role.ANALYST)
        transport = loopback.InProcess(create_app(node))
        http = httpx.Client(
            base_url="http://jpn.test",
            transport=transport,
            headers={"Authorization": f"Bearer {token}"},
        )
        web = httpx.Client(base_url="http://jpn.test", transport=transport)
        try:
            yield Served(node, http, web, token)
        finally:
            http.close()
            web.close()
            node.close()


def _label(area: str) -> dict[str, Any]:
    return {"originator": "JPN", "classification": "HI", "area": area, "releasable_to": ["CAN"]}


def test_the_catalogue_names_the_areas_its_agreements_cover(served: Served) -> None:
    assert served.node.rulebook.catalogue.areas == tuple(AREAS)


def test_the_api_refuses_an_area_the_catalogue_does_not_name(served: Served) -> None:
    before, refused = served.stored(), len(served.refusals())
    body = {"label": _label("fisheries"), "title": "Catch", "content": "x"}
    response = served.http.post("/api/v1/items", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["place"] for e in problem["errors"]] == ["label.area"]
    assert "unknown area 'fisheries'" in problem["detail"]
    assert "\n" not in problem["detail"]
    assert served.stored() == before
    assert len(served.refusals()) == refused + 1


def test_the_api_takes_an_area_the_catalogue_names(served: Served) -> None:
    body = {"label": _label("maritime"), "title": "Patrol", "content": "x"}
    response = served.http.post("/api/v1/items", json=body)
    assert response.status_code == 201, response.text


def _signed_in(served: Served) -> str:
    form = served.web.get("/web/sign-in")
    match = CSRF.search(form.text)
    assert match, form.text
    response = served.web.post("/web/sign-in", data={"csrf": match.group(1), "token": served.token})
    assert response.status_code == 303, response.text
    page = served.web.get("/web/items/new")
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match
    return match.group(1)


def test_the_web_form_offers_the_named_areas_and_refuses_others(served: Served) -> None:
    csrf = _signed_in(served)
    page = served.web.get("/web/items/new").text
    assert '<select id="area" name="area"' in page
    for area in AREAS:
        assert f'<option value="{area}">{area}</option>' in page
    # the form preselects the user's own clearance, not the lowest level
    assert re.search(r'<option value="KIMITSU" selected>', page), page
    before, refused = served.stored(), len(served.refusals())
    form = {
        "csrf": csrf,
        "title": "Catch",
        "classification": "HI",
        "area": "fisheries",
        "releasable_to": "CAN",
        "content": "x",
        "action": "create",
    }
    response = served.web.post("/web/items", data=form)
    assert response.status_code == 422, response.text
    assert 'id="area-error"' in response.text
    assert "unknown area &#39;fisheries&#39;" in response.text
    assert served.stored() == before
    [*_, audited] = served.refusals()  # one refusal, audited as the REST API's is
    assert len(served.refusals()) == refused + 1
    assert (audited["actor"], audited["data"]["action"]) == ("analyst", "POST /web/items")
    assert "unknown area 'fisheries'" in audited["data"]["reason"]
    response = served.web.post("/web/items", data=form | {"area": "cyber"})
    assert response.status_code == 303, response.text
    assert served.stored() == before + 1
