"""Security categories on a node (docs/decision.md, "Categories"): its users hold them, its
items carry them, and every read, listing, TAXII read and release decides on both.

Japan's policy is given three tags: ``Releasable To`` (its nations), ``Sensitivity``
(restrictive: ATOMAL, excluded at HI, and CRYPTO) and ``Mission`` (permissive: ALPHA,
BRAVO). One Japanese node per database answers in this process; hostile categories, on
items and on accounts, are refused (422, naming the place), audited, and store nothing;
a category column edited in SQL breaks the row's signature.
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
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from gsoia.api.app import create_app
from gsoia.cli.app import app
from gsoia.errors import RequestError
from gsoia.node.authority import OPERATOR
from gsoia.node.binding4778 import export_item, import_item
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.store.schema import items, users
from tests import loopback
from tests.federation.mesh import Mesh, mesh_of
from tests.node.conftest import fresh_database
from tests.node.test_labels_releasable import tagged_catalogue
from tests.taxii.support import INTEL, ROOT, TAXII, indicator
from tests.taxii.support import label as taxii_label

ATOMAL = {"Sensitivity": ["ATOMAL"]}
MISSION: dict[str, Any] = {
    "name": "Mission",
    "kind": "permissive",
    "values": [{"name": "ALPHA", "lacv": 1}, {"name": "BRAVO", "lacv": 2}],
}


def categorized_catalogue(path: Path) -> str:
    """The catalogue of tests/node/test_labels_releasable.py (Japan's ``Releasable To``
    and ``Sensitivity``), ``Sensitivity`` given ATOMAL (excluded at HI) and a permissive
    ``Mission``, written to ``path``."""
    document = yaml.safe_load(tagged_catalogue(path).read_text("utf-8"))
    [tag_set] = document["policies"]["JPN"]["categories"]
    sensitivity = next(tag for tag in tag_set["tags"] if tag["name"] == "Sensitivity")
    sensitivity["values"].append({"name": "ATOMAL", "lacv": 2, "excluded": ["HI"]})
    tag_set["tags"].append(MISSION)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    return str(path)


def label(categories: Any = None, classification: str = "GOKUHI") -> dict[str, Any]:
    found: dict[str, Any] = {
        "originator": "JPN",
        "classification": classification,
        "area": "maritime",
        "releasable_to": ["CAN"],
        "need_to_know": ["maritime"],
    }
    if categories is not None:
        found["categories"] = categories
    return found


USERS: dict[str, tuple[Role, dict[str, list[str]] | None]] = {
    "admin": (Role.ADMIN, None),
    "officer": (Role.OFFICER, None),
    "plain": (Role.ANALYST, None),
    "atomal": (Role.ANALYST, ATOMAL),
    "alpha": (Role.ANALYST, {"Mission": ["ALPHA"]}),
    "victim": (Role.ANALYST, ATOMAL),
}


@dataclass
class Served:
    node: Node
    tokens: dict[str, str]
    transport: httpx.BaseTransport

    def client(self, user: str, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url="http://jpn.test",
            transport=self.transport,
            headers={"Authorization": f"Bearer {self.tokens[user]}", **headers},
        )

    def create(self, user: str, categories: Any, **changes: Any) -> httpx.Response:
        body = {"label": label(categories, **changes), "title": "Patrol", "content": "東シナ海"}
        with self.client(user) as http:
            return http.post("/api/v1/items", json=body)

    def listed(self, user: str) -> set[str]:
        with self.client(user) as http:
            page = http.get("/api/v1/items", params={"limit": 1000})
        assert page.status_code == 200, page.text
        return {item["id"] for item in page.json()["items"]}

    def refusals(self) -> int:
        with self.client("officer") as http:
            page = http.get("/api/v1/audit", params={"after": -1, "limit": 1000})
        assert page.status_code == 200, page.text
        return sum(e["kind"] == "refused" for e in page.json()["entries"])

    def add_account(self, user_id: str, categories: dict[str, list[str]]) -> None:
        """A KIMITSU analyst holding ``categories``, added by the admin over REST."""
        account = {"id": user_id, "nation": "JPN", "clearance": "KIMITSU"}
        with self.client("admin") as http:
            added = http.post(
                "/api/v1/users",
                json=account | {"need_to_know": ["maritime"], "categories": categories},
            )
        assert added.status_code == 201, added.text
        self.tokens[user_id] = added.json()["token"]

    def count(self, table: Any) -> int:
        with self.node.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def add_users(
    node: Node, accounts: dict[str, tuple[Role, dict[str, list[str]] | None]]
) -> dict[str, str]:
    """Japanese KIMITSU users of the maritime topic, by id: their role and categories; their
    tokens by id."""
    tokens = {}
    for user_id, (role, categories) in accounts.items():
        _, tokens[user_id] = node.add_user(
            user_id,
            "JPN",
            clearance="KIMITSU",
            need_to_know=["maritime"],
            role=role,
            categories=categories,
        )
    return tokens


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = Path(tmp_path_factory.mktemp("categories"))
    with fresh_database(request.param) as database:
        node = Node.init(
            root / "jpn",
            "JPN",
            database=database.url,
            catalogue=categorized_catalogue(root / "catalogue.yaml"),
        )
        tokens = add_users(node, USERS)
        try:
            yield Served(node, tokens, loopback.InProcess(create_app(node)))
        finally:
            node.close()


# -- reads and listings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "holder", "lacking"),
    [
        (ATOMAL, "atomal", "lacks the categories ATOMAL (Sensitivity)"),
        ({"Mission": ["ALPHA", "BRAVO"]}, "alpha", "lacks the categories one of ALPHA, BRAVO"),
    ],
)
def test_an_item_keeps_its_categories_and_only_their_holders_read_or_list_it(
    served: Served, categories: dict[str, list[str]], holder: str, lacking: str
) -> None:
    created = served.create(holder, categories)
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    assert created.json()["label"]["categories"] == categories
    with served.client(holder) as http:
        read = http.get(f"/api/v1/items/{item}")
        assert read.status_code == 200, read.text
        assert read.json()["label"]["categories"] == categories
        xml = http.get(f"/api/v1/items/{item}/label.xml")
        assert xml.status_code == 200, xml.text
        tag, [value, *_] = next(iter(categories.items()))
        assert f'TagName="{tag}"' in xml.text
        assert f"GenericValue>{value}</" in xml.text
    with served.client("plain") as http:
        refused = http.get(f"/api/v1/items/{item}")
    assert refused.status_code == 403, refused.text
    assert lacking in refused.json()["detail"]
    assert item in served.listed(holder)
    others = {"plain", "atomal", "alpha"} - {holder}
    assert all(item not in served.listed(user) for user in others)


def test_an_item_without_categories_is_listed_to_every_reader(served: Served) -> None:
    created = served.create("plain", None)
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    assert "categories" not in created.json()["label"]
    for user in ("plain", "atomal", "alpha"):
        assert item in served.listed(user)


def test_each_reader_lists_exactly_the_items_it_may_read(served: Served) -> None:
    sets: list[Any] = [
        None,
        ATOMAL,
        {"Sensitivity": ["ATOMAL", "CRYPTO"]},
        {"Mission": ["ALPHA"]},
        {"Mission": ["BRAVO"]},
        {"Mission": ["ALPHA"], "Sensitivity": ["ATOMAL"]},
    ]
    served.add_account(
        "everything", {"Sensitivity": ["ATOMAL", "CRYPTO"], "Mission": ["ALPHA", "BRAVO"]}
    )
    made = set()
    for categories in sets * 2:
        created = served.create("everything", categories)
        assert created.status_code == 201, created.text
        made.add(created.json()["id"])
    for user in ("plain", "atomal", "alpha", "everything"):
        with served.client(user) as http:
            readable = {i for i in made if http.get(f"/api/v1/items/{i}").status_code == 200}
        assert served.listed(user) & made == readable, user
    assert served.listed("everything") >= made
    assert len(served.listed("alpha") & made) == 4  # none and ALPHA's


def test_a_4774_label_keeps_its_categories(served: Served) -> None:
    xml = (
        '<originatorConfidentialityLabel xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel'
        ':1:0"><ConfidentialityInformation><PolicyIdentifier>Japan</PolicyIdentifier>'
        "<Classification>極秘</Classification>"
        '<Category TagName="Sensitivity" Type="RESTRICTIVE"><GenericValue>ATOMAL</GenericValue>'
        "</Category>"
        '<Category TagName="Releasable To" Type="PERMISSIVE"><GenericValue>USA</GenericValue>'
        "</Category></ConfidentialityInformation></originatorConfidentialityLabel>"
    )
    with served.client("atomal") as http:
        created = http.post(
            "/api/v1/items", json={"label_xml": xml, "title": "From a guard", "content": "x"}
        )
    assert created.status_code == 201, created.text
    shown = created.json()["label"]
    assert (shown["categories"], shown["releasable_to"]) == (ATOMAL, ["USA"])
    assert created.json()["id"] not in served.listed("plain")


def test_the_web_page_of_an_item_shows_its_categories(served: Served) -> None:
    item = served.create("atomal", ATOMAL).json()["id"]
    with httpx.Client(base_url="http://jpn.test", transport=served.transport) as web:
        form = web.get("/web/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf, form.text
        signed_in = web.post(
            "/web/sign-in", data={"csrf": csrf.group(1), "token": served.tokens["atomal"]}
        )
        assert signed_in.status_code == 303, signed_in.text
        page = web.get(f"/web/items/{item}")
    assert page.status_code == 200, page.text
    assert "<dt>Security categories</dt><dd>Sensitivity: ATOMAL</dd>" in page.text


def test_an_item_exported_as_a_4778_binding_comes_back_with_its_categories(
    served: Served,
) -> None:
    item = served.create("atomal", ATOMAL).json()["id"]
    holder = served.node.authenticate(served.tokens["atomal"])
    binding = export_item(served.node, holder, item)
    assert b'TagName="Sensitivity"' in binding
    again = import_item(served.node, holder, binding)
    assert again["label"]["categories"] == ATOMAL
    assert again["id"] not in served.listed("plain")


# -- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "classification", "place", "reason"),
    [
        ({"Caveat": ["X"]}, "GOKUHI", "label.categories.Caveat", "unknown category tag"),
        ({"Sensitivity": ["NOPE"]}, "GOKUHI", "label.categories.Sensitivity[0]", "unknown"),
        (ATOMAL, "HI", "label.categories.Sensitivity[0]", "'ATOMAL' is excluded at HI"),
        ({"Sensitivity": []}, "GOKUHI", "label.categories.Sensitivity", "no value"),
        ({"Sensitivity": "ATOMAL"}, "GOKUHI", "label.categories.Sensitivity", ""),
        (["ATOMAL"], "GOKUHI", "label.categories", ""),
    ],
)
def test_hostile_item_categories_are_refused_audited_and_nothing_stored(
    served: Served, categories: Any, classification: str, place: str, reason: str
) -> None:
    before, refusals = served.count(items), served.refusals()
    response = served.create("atomal", categories, classification=classification)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["detail"].count("\n") == 0
    assert any(e["place"].startswith(place) for e in problem["errors"]), problem
    assert reason in problem["detail"]
    assert served.count(items) == before
    assert served.refusals() == refusals + 1


@pytest.mark.parametrize(
    ("categories", "place"),
    [
        ({"Caveat": ["X"]}, "categories.Caveat"),
        ({"Sensitivity": ["NOPE"]}, "categories.Sensitivity[0]"),
        ({"Sensitivity": "ATOMAL"}, "categories.Sensitivity"),
    ],
)
def test_hostile_account_categories_are_refused_audited_and_nothing_stored(
    served: Served, categories: Any, place: str
) -> None:
    before, refusals = served.count(users), served.refusals()
    with served.client("admin") as http:
        added = http.post(
            "/api/v1/users", json={"id": "new", "nation": "JPN", "categories": categories}
        )
        changed = http.patch("/api/v1/users/plain", json={"categories": categories})
    for response in (added, changed):
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert any(e["place"].endswith(place) for e in errors), errors
    assert served.count(users) == before
    assert served.refusals() == refusals + 2
    with served.client("admin") as http:
        assert http.get("/api/v1/users/plain").json()["categories"] == {}


def test_an_account_given_a_category_reads_what_it_could_not(served: Served) -> None:
    created = served.create("atomal", ATOMAL)
    item = created.json()["id"]
    served.add_account("later", {})
    with served.client("admin") as http:
        with served.client("later") as later:
            assert later.get(f"/api/v1/items/{item}").status_code == 403
        changed = http.patch("/api/v1/users/later", json={"categories": ATOMAL})
        assert changed.status_code == 200, changed.text
        assert changed.json()["categories"] == ATOMAL
        listed = {u["id"]: u["categories"] for u in http.get("/api/v1/users").json()}
        assert listed["later"] == ATOMAL
        assert listed["plain"] == {}
    with served.client("later") as later:
        assert later.get(f"/api/v1/items/{item}").status_code == 200
    assert item in served.listed("later")


# -- TAXII ------------------------------------------------------------------------------------


def test_taxii_reads_decide_the_categories(served: Served) -> None:
    extension = taxii_label() | {"categories": ATOMAL}
    obj = indicator(7, extension=extension)
    objects = f"{ROOT}collections/{INTEL}/objects/"
    headers = {"Accept": TAXII, "Content-Type": TAXII}
    with served.client("atomal", **headers) as http:
        posted = http.post(objects, content=json.dumps({"objects": [obj]}))
        assert posted.status_code == 202, posted.text
        assert posted.json()["success_count"] == 1, json.dumps(posted.json())
        mine = http.get(objects)
        assert mine.status_code == 200, mine.text
        found = [o for o in mine.json().get("objects", []) if o["id"] == obj["id"]]
        assert found, mine.json()
    with served.client("plain", **headers) as http:
        theirs = http.get(objects)
        assert theirs.status_code == 200, theirs.text
        assert obj["id"] not in {o["id"] for o in theirs.json().get("objects", [])}
        assert http.get(f"{objects}{obj['id']}/").status_code == 404


# -- tampering --------------------------------------------------------------------------------


@pytest.mark.parametrize("edited", [None, '{"Sensitivity": ["CRYPTO"]}', '{"Mission": []}'])
def test_an_edited_categories_column_breaks_the_items_signature(
    served: Served, edited: str | None
) -> None:
    item = served.create("atomal", ATOMAL).json()["id"]
    with served.node.engine.begin() as connection:
        connection.execute(update(items).where(items.c.id == item).values(categories=edited))
    with served.client("atomal") as http:
        response = http.get(f"/api/v1/items/{item}")
    assert response.status_code == 500, response.text
    assert response.json()["type"] == "/problems/integrity"
    assert item not in served.listed("atomal")
    assert item not in served.listed("plain")


def test_categories_put_on_an_item_without_any_break_its_signature(served: Served) -> None:
    item = served.create("plain", None).json()["id"]
    with served.node.engine.begin() as connection:
        connection.execute(
            update(items).where(items.c.id == item).values(categories='{"Mission": ["ALPHA"]}')
        )
    with served.client("plain") as http:
        response = http.get(f"/api/v1/items/{item}")
    assert response.status_code == 500, response.text
    assert response.json()["type"] == "/problems/integrity"


def test_an_edited_account_categories_column_authenticates_no_one(served: Served) -> None:
    with served.client("victim") as http:
        assert http.get("/api/v1/items").status_code == 200
    with served.node.engine.begin() as connection:
        connection.execute(
            update(users)
            .where(users.c.id == "victim")
            .values(categories='{"Sensitivity": ["ATOMAL", "CRYPTO"]}')
        )
    served.node.accounts._forget()  # what this process trusted for a second
    with served.client("victim") as http:
        assert http.get("/api/v1/items").status_code == 401


# -- the CLI ----------------------------------------------------------------------------------


def test_the_cli_adds_sets_and_refuses_categories(tmp_path: Path) -> None:
    data = tmp_path / "jpn"
    Node.init(data, "JPN", catalogue=categorized_catalogue(tmp_path / "catalogue.yaml")).close()
    where = ["--data", str(data)]
    runner = CliRunner()
    options = ["--category", "Sensitivity=ATOMAL", "--category", "Mission=ALPHA"]
    added = runner.invoke(app, ["user", "add", "--id", "a1", "--nation", "JPN", *options, *where])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(
        app, ["user", "add", "--id", "a2", "--nation", "JPN", "--category", "Caveat=X", *where]
    )
    assert refused.exit_code == 2
    assert "categories.Caveat: unknown category tag 'Caveat'" in refused.output
    malformed = runner.invoke(
        app, ["user", "add", "--id", "a3", "--nation", "JPN", "--category", "ATOMAL", *where]
    )
    assert malformed.exit_code == 2
    assert "--category[0]: 'ATOMAL' is not TAG=VALUE" in malformed.output
    changed = runner.invoke(
        app, ["user", "set", "--id", "a1", "--category", "Sensitivity=CRYPTO", *where]
    )
    assert changed.exit_code == 0, changed.output
    assert "categories [Sensitivity: CRYPTO]" in changed.output
    listed = runner.invoke(app, ["user", "list", *where])
    assert "CRYPTO" in listed.output
    node = Node.open(data)
    try:
        [record] = node.accounts.list(OPERATOR)
        assert record.user.subject()["categories"] == {"Sensitivity": ["CRYPTO"]}
    finally:
        node.close()


# -- federation -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mesh]:
    catalogue = categorized_catalogue(tmp_path / "catalogue.yaml")
    with (
        fresh_database(request.param) as database,
        mesh_of(tmp_path, database.url, catalogue) as built,
    ):
        yield built


def atomal_officer(node: Node) -> User:
    officer, _ = node.add_user(
        "jpn-atomal-officer",
        "JPN",
        clearance="KIMITSU",
        need_to_know=["maritime"],
        role=Role.OFFICER,
        categories=ATOMAL,
    )
    return officer


def atomal_reader(mesh: Mesh, nation: str, clearance: str) -> User:
    """A reader of ``nation``'s node holding ATOMAL, its token kept in ``mesh``."""
    reader, token = mesh.nodes[nation].add_user(
        f"{nation.lower()}-atomal",
        nation,
        clearance=clearance,
        need_to_know=["maritime"],
        categories=ATOMAL,
    )
    mesh.tokens[reader.id] = token
    return reader


def read_as(mesh: Mesh, nation: str, user: str, item: str) -> tuple[int, Any, set[str]]:
    """``user``'s read of ``item`` on ``nation``'s node: status, label, the ids it lists."""
    with mesh.client(nation, user) as http:
        read = http.get(f"/api/v1/items/{item}")
        listed = {i["id"] for i in http.get("/api/v1/items").json()["items"]}
    return read.status_code, read.json().get("label") or read.json()["detail"], listed


def test_a_release_carries_the_categories_to_the_partner(mesh: Mesh) -> None:
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    holder = atomal_reader(mesh, "JPN", "KIMITSU")
    both = label(ATOMAL) | {"releasable_to": ["CAN", "USA"]}
    item = jpn.create_item(holder, both, "Patrol report", "東シナ海".encode())["id"]
    released = jpn.exchange.release(holder, item, "CAN")
    assert released["state"] == "delivered", released
    reader = atomal_reader(mesh, "CAN", "S")
    status, detail, listed = read_as(mesh, "CAN", "can-analyst", item)
    assert (status, item in listed) == (403, False)
    assert "lacks the categories ATOMAL (Sensitivity)" in detail
    status, shown, listed = read_as(mesh, "CAN", "can-atomal", item)
    assert (status, shown["categories"], item in listed) == (200, ATOMAL, True)
    with can.engine.connect() as connection:
        stored = connection.execute(select(items.c.categories).where(items.c.id == item))
        assert json.loads(stored.scalar_one()) == ATOMAL
    # passed on by Canada with Japan's consent: the USA checks Japan's seal over them
    jpn.exchange.consent(atomal_officer(jpn), item, "USA", note="for the exercise")
    onward = can.exchange.release(reader, item, "USA")
    assert onward["state"] == "delivered", onward
    atomal_reader(mesh, "USA", "S")
    status, shown, listed = read_as(mesh, "USA", "usa-atomal", item)
    assert (status, shown["categories"], item in listed) == (200, ATOMAL, True)
    assert read_as(mesh, "USA", "usa-analyst", item)[0] == 403


def test_a_release_of_an_item_without_categories_sends_none(mesh: Mesh) -> None:
    item = mesh.item()
    assert mesh.nodes["JPN"].exchange.release(mesh.analysts["JPN"], item, "CAN")["state"] == (
        "delivered"
    )
    with mesh.client("CAN", "can-analyst") as http:
        read = http.get(f"/api/v1/items/{item}")
    assert read.status_code == 200, read.text
    assert "categories" not in read.json()["label"]


def test_a_reclassification_to_a_level_excluding_a_category_is_refused(mesh: Mesh) -> None:
    jpn = mesh.nodes["JPN"]
    officer = atomal_officer(jpn)
    item = jpn.create_item(officer, label(ATOMAL), "Patrol report", b"x")["id"]
    with pytest.raises(RequestError) as refused:
        jpn.exchange.reclassify(officer, item, "HI")
    assert "'ATOMAL' is excluded at HI" in refused.value.diagnostics()
    assert jpn.exchange.reclassify(officer, item, "TOKUTEI")
