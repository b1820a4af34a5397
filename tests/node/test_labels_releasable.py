"""A 4774 label's releasability on a node whose policy has NATO's ``Releasable To`` tag:
taken as the item's ``releasable_to`` (so the decision releases it), served back in
``label.xml`` as the same category, and carried by an item exported and imported as a
binding; a category that is no nation of the catalogue refused; other categories kept as
the item's security categories (tests/node/test_categories_node.py decides them)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import tostring

import httpx
import pytest
import yaml
from defusedxml.ElementTree import fromstring

from gsoia.api.app import create_app
from gsoia.catalogue.data import __file__ as data_init
from gsoia.labels_xml.label4774 import LabelDocument, label_from_element
from gsoia.labels_xml.names import BINDING_4778, LABEL_4774
from gsoia.node.binding4778 import export_item, import_item
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from tests import loopback

MB = f"{{{BINDING_4778}}}"

JPN_OID = "1.2.392.200.9"
_TAGS: dict[str, Any] = {
    "name": "Japan's categories",
    "oid": "1.2.392.200.1",
    "tags": [
        {
            "name": "Releasable To",
            "kind": "enumerated-permissive",
            "values": [
                {"name": "JPN", "lacv": 392},
                {"name": "USA", "lacv": 840},
                {"name": "GBR", "lacv": 826, "excluded": ["KIMITSU"]},
                {"name": "FVEY", "lacv": 1},
                {"name": "ATLANTIS", "lacv": 2},
            ],
            "qualifiers": [
                {"kind": "prefix", "text": "REL TO "},
                {"kind": "separator", "text": ", "},
            ],
        },
        {"name": "Sensitivity", "kind": "restrictive", "values": [{"name": "CRYPTO", "lacv": 1}]},
    ],
}


def tagged_catalogue(path: Path) -> Path:
    """The bundled catalogue with Japan's policy given an OID and ``_TAGS``, written to
    ``path``."""
    catalogue = yaml.safe_load((Path(data_init).parent / "default.yaml").read_text("utf-8"))
    catalogue["policies"]["JPN"]["categories"] = [_TAGS]
    catalogue["policies"]["JPN"]["oid"] = JPN_OID  # Japan's policy has a SPIF
    path.write_text(yaml.safe_dump(catalogue, allow_unicode=True), "utf-8")
    return path


def _label_xml(classification: str, categories: str = "") -> str:
    return (
        f'<originatorConfidentialityLabel xmlns="{LABEL_4774}"><ConfidentialityInformation>'
        f"<PolicyIdentifier>Japan</PolicyIdentifier>"
        f"<Classification>{classification}</Classification>{categories}"
        "</ConfidentialityInformation></originatorConfidentialityLabel>"
    )


def _released(*names: str) -> str:
    values = "".join(f"<GenericValue>{n}</GenericValue>" for n in names)
    return f'<Category TagName="Releasable To" Type="PERMISSIVE">{values}</Category>'


@dataclass
class Served:
    node: Node
    user: User
    analyst: httpx.Client
    visitor: httpx.Client
    """A United States user of the node: reads what Japan releases to the USA."""
    tokens: dict[str, str]
    transport: httpx.BaseTransport


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("releasable")
    node = Node.init(root / "jpn", "JPN", catalogue=str(tagged_catalogue(root / "catalogue.yaml")))
    user, token = node.add_user("analyst", "JPN", clearance="KIMITSU", role=Role.ANALYST)
    _, visitor_token = node.add_user("visitor", "USA", clearance="TS", role=Role.ANALYST)
    transport = loopback.InProcess(create_app(node))
    analyst, visitor = (
        httpx.Client(
            base_url="http://jpn.test",
            transport=transport,
            headers={"Authorization": f"Bearer {t}"},
        )
        for t in (token, visitor_token)
    )
    try:
        tokens = {"analyst": token, "visitor": visitor_token}
        yield Served(node, user, analyst, visitor, tokens, transport)
    finally:
        analyst.close()
        visitor.close()
        node.close()


def _post(served: Served, label_xml: str) -> httpx.Response:
    return served.analyst.post(
        "/api/v1/items", json={"label_xml": label_xml, "title": "from a guard", "content": "x"}
    )


def _originator(response: httpx.Response) -> LabelDocument:
    assert response.status_code == 200, response.text
    metadata = fromstring(response.content).find(f".//{MB}Metadata")
    assert metadata is not None
    return label_from_element(metadata[0])


def test_releasable_to_is_kept_decided_and_served_back_unchanged(served: Served) -> None:
    sent = _label_xml("極秘", _released("USA", "FVEY"))
    created = _post(served, sent)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["label"]["releasable_to"] == ["USA", "FVEY"]
    assert served.visitor.get(f"/api/v1/items/{item['id']}").status_code == 200
    answered = served.analyst.get(f"/api/v1/items/{item['id']}/label.xml")
    label = _originator(answered)
    assert [(c.tag, c.type.value, c.values) for c in label.categories] == [
        ("Releasable To", "PERMISSIVE", ["USA", "FVEY"])
    ]
    sent_label = label_from_element(fromstring(sent))
    assert label.model_copy(update={"policy_uri": None}) == sent_label
    metadata = fromstring(answered.content).find(f".//{MB}Metadata")
    again = _post(served, tostring(metadata[0], encoding="unicode"))
    assert again.status_code == 201, again.text
    assert again.json()["label"]["releasable_to"] == ["USA", "FVEY"]


def test_without_releasability_a_foreign_reader_is_denied(served: Served) -> None:
    created = _post(served, _label_xml("極秘"))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    assert served.visitor.get(f"/api/v1/items/{item_id}").status_code == 403
    assert _originator(served.analyst.get(f"/api/v1/items/{item_id}/label.xml")).categories == []


def test_a_releasability_the_tag_cannot_say_is_left_out_of_label_xml(served: Served) -> None:
    created = served.analyst.post(
        "/api/v1/items",
        json={
            "label": {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]},
            "title": "to Canada",
            "content": "x",
        },
    )
    assert created.status_code == 201, created.text
    answered = served.analyst.get(f"/api/v1/items/{created.json()['id']}/label.xml")
    assert _originator(answered).categories == []


def test_a_binding_carries_the_releasability(served: Served) -> None:
    created = _post(served, _label_xml("秘", _released("GBR")))
    assert created.status_code == 201, created.text
    binding = export_item(served.node, served.user, created.json()["id"])
    imported = import_item(served.node, served.user, binding)
    assert imported["label"]["releasable_to"] == ["GBR"]


@pytest.mark.parametrize(
    ("categories", "fragment"),
    [
        (
            _released("USA", "ATLANTIS"),
            "Category[Releasable To].GenericValue[ATLANTIS]: not a nation or group",
        ),
    ],
)
def test_other_categories_are_refused_and_nothing_stored(
    served: Served, categories: str, fragment: str
) -> None:
    before = served.analyst.get("/api/v1/items").json()["items"]
    response = _post(served, _label_xml("秘", categories))
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]
    assert served.analyst.get("/api/v1/items").json()["items"] == before


def test_other_categories_are_the_items_and_a_creator_lacking_them_is_refused(
    served: Served,
) -> None:
    before = served.analyst.get("/api/v1/items").json()["items"]
    crypto = (
        '<Category TagName="Sensitivity" Type="RESTRICTIVE">'
        "<GenericValue>CRYPTO</GenericValue></Category>"
    )
    response = _post(served, _label_xml("秘", crypto))
    assert response.status_code == 403, response.text
    assert "lacks the categories CRYPTO (Sensitivity)" in response.json()["detail"]
    assert served.analyst.get("/api/v1/items").json()["items"] == before


def test_a_category_excluded_at_the_level_is_refused(served: Served) -> None:
    response = _post(served, _label_xml("機密", _released("GBR")))
    assert response.status_code == 422, response.text
    assert "GenericValue[GBR]: excluded at 機密" in response.json()["detail"]


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BANNER = re.compile(
    r'<p class="banner [^"]* (?:top|bottom)"[^>]*>\s*<span class="visually-hidden">[^<]*</span>'
    r'<span class="marking">([^<]*)</span>'
)


READER_ROW = re.compile(
    r'<tr class="allow" data-nation="(\w+)">.*?<span class="marking">([^<]*)</span>', re.S
)
PREVIEW = re.compile(r'id="decision"[^>]*>.*?<span class="marking">([^<]*)</span>', re.S)


def _web_page(served: Served, user: str, path: str) -> str:
    """The page at ``path`` as ``user`` sees it (signed in by the form)."""
    with httpx.Client(base_url="http://jpn.test", transport=served.transport) as web:
        found = CSRF.search(web.get("/web/sign-in").text)
        assert found
        signed = web.post("/web/sign-in", data={"csrf": found[1], "token": served.tokens[user]})
        assert signed.status_code == 303, signed.text
        page = web.get(path)
        assert page.status_code == 200, page.text
        return page.text


def _banners(served: Served, user: str, item_id: str) -> list[str]:
    """The top and bottom banners of the item's page, as ``user`` sees them."""
    page = _web_page(served, user, f"/web/items/{item_id}")
    return [html.unescape(text) for text in BANNER.findall(page)]


def test_the_banners_use_the_spif_marking_where_the_policy_has_one(served: Served) -> None:
    created = _post(served, _label_xml("極秘", _released("USA", "FVEY")))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    assert created.json()["marking"]["text"] == "JPN 極秘"  # the API's marking as decided
    # the SPIF's order: by LACV within the tag
    assert _banners(served, "analyst", item_id) == ["Japan 極秘 REL TO FVEY, USA"] * 2
    # the United States' policy has no SPIF: its level keeps the dual marking's form
    foreign = "USA SECRET // Japan 極秘 REL TO FVEY, USA // JPN-USA"
    assert _banners(served, "visitor", item_id) == [foreign] * 2


def test_the_api_gives_the_spif_marking_beside_the_decided_one(served: Served) -> None:
    created = _post(served, _label_xml("極秘", _released("USA", "FVEY")))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    assert created.json()["marking"]["display"] == "Japan 極秘 REL TO FVEY, USA"
    foreign = served.visitor.get(f"/api/v1/items/{item_id}").json()["marking"]
    assert foreign["text"] == "USA SECRET // JPN 極秘 // JPN-USA"  # the dual marking, kept
    assert foreign["display"] == "USA SECRET // Japan 極秘 REL TO FVEY, USA // JPN-USA"
    listed = served.visitor.get("/api/v1/items").json()["items"]
    assert [i["marking"]["display"] for i in listed if i["id"] == item_id] == [foreign["display"]]


def test_the_readers_table_and_the_release_preview_use_the_spif_marking(served: Served) -> None:
    created = _post(served, _label_xml("極秘", _released("USA", "FVEY")))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    page = _web_page(served, "analyst", f"/web/items/{item_id}")
    rows = {nation: html.unescape(text) for nation, text in READER_ROW.findall(page)}
    assert rows["JPN"] == "Japan 極秘 REL TO FVEY, USA"
    assert rows["USA"] == "USA SECRET // Japan 極秘 REL TO FVEY, USA // JPN-USA"
    preview = _web_page(served, "analyst", f"/web/items/{item_id}/release?to=USA")
    found = PREVIEW.search(preview)
    assert found, preview
    assert html.unescape(found[1]) == "USA SECRET // Japan 極秘 REL TO FVEY, USA // JPN-USA"


def test_a_queue_names_its_item_with_the_spif_marking(served: Served) -> None:
    created = _post(served, _label_xml("極秘", _released("USA", "FVEY")))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    reported = served.analyst.post("/api/v1/incidents", json={"item": item_id, "kind": "loss"})
    assert reported.status_code == 201, reported.text
    _, token = served.node.add_user(
        f"officer-{item_id[:8]}", "JPN", clearance="KIMITSU", role=Role.OFFICER
    )
    with httpx.Client(
        base_url="http://jpn.test",
        transport=served.transport,
        headers={"Authorization": f"Bearer {token}"},
    ) as officer:
        listed = officer.get("/api/v1/incidents").json()
    [marking] = [r["item_marking"] for r in listed if r["item_id"] == item_id]
    assert marking["text"] == "JPN 極秘"
    assert marking["display"] == "Japan 極秘 REL TO FVEY, USA"
