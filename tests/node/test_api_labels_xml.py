"""STANAG 4774 labels over REST, on a node answered in this process: ``POST
/api/v1/items`` with ``label_xml`` in place of ``label``, ``GET
/api/v1/items/{id}/label.xml`` (the originator's label, and for a copy held here the
alternative label in this node's policy); refusals are 422 naming the element, audited,
and store nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import tostring

import httpx
import pytest
from defusedxml.ElementTree import fromstring

from gsoia.api.app import create_app
from gsoia.labels_xml.label4774 import label_from_element
from gsoia.labels_xml.names import BINDING_4778, LABEL_4774
from gsoia.node.service import Node
from gsoia.node.users import Role
from tests import loopback
from tests.node.conftest import fresh_database

SLAB = f"{{{LABEL_4774}}}"
MB = f"{{{BINDING_4778}}}"


def _label_xml(policy: str, classification: str, extra: str = "", url: str = "") -> str:
    at = f' URL="{url}"' if url else ""
    return (
        f'<originatorConfidentialityLabel xmlns="{LABEL_4774}"><ConfidentialityInformation>'
        f"<PolicyIdentifier{at}>{policy}</PolicyIdentifier>"
        f"<Classification>{classification}</Classification>{extra}"
        "</ConfidentialityInformation></originatorConfidentialityLabel>"
    )


@dataclass
class Served:
    node: Node
    http: httpx.Client
    officer: httpx.Client

    def refusals(self) -> int:
        """The audit log's refusals of item creation, read as an officer."""
        page = self.officer.get("/api/v1/audit", params={"after": -1, "limit": 1000})
        assert page.status_code == 200, page.text
        return sum(
            e["kind"] == "refused" and e["data"].get("action") == "POST /api/v1/items"
            for e in page.json()["entries"]
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    with fresh_database(request.param) as database:
        yield from _served(Path(tmp_path_factory.mktemp("labels")) / "jpn", database.url)


def _served(data: Path, url: str | None) -> Iterator[Served]:
    node = Node.init(data, "JPN", database=url)
    _, token = node.add_user("analyst", "JPN", clearance="KIMITSU", role=Role.ANALYST)
    _, officer_token = node.add_user("officer", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    transport = loopback.InProcess(create_app(node))
    http, officer = (
        httpx.Client(
            base_url="http://jpn.test",
            transport=transport,
            headers={"Authorization": f"Bearer {t}"},
        )
        for t in (token, officer_token)
    )
    try:
        yield Served(node, http, officer)
    finally:
        http.close()
        officer.close()
        node.close()


def _labels(response: httpx.Response) -> list[object]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = fromstring(response.content)
    assert root.tag == f"{MB}MetadataBindingContainer"
    return [label_from_element(m[0]) for m in root.iter(f"{MB}Metadata")]


def test_an_item_made_from_a_4774_label_answers_it_back(served: Served) -> None:
    body = {"label_xml": _label_xml("Japan", "極秘"), "title": "from a guard", "content": "x"}
    created = served.http.post("/api/v1/items", json=body)
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["label"]["originator"], item["label"]["classification"]) == ("JPN", "GOKUHI")
    labels = _labels(served.http.get(f"/api/v1/items/{item['id']}/label.xml"))
    assert len(labels) == 1
    label = labels[0]
    assert (label.kind.value, label.policy, label.classification) == (  # type: ignore[attr-defined]
        "originatorConfidentialityLabel",
        "Japan",
        "極秘",
    )
    answered = fromstring(served.http.get(f"/api/v1/items/{item['id']}/label.xml").content)
    originator = tostring(answered.find(f".//{MB}Metadata")[0], encoding="unicode")  # type: ignore[index]
    again = served.http.post(
        "/api/v1/items", json={"label_xml": originator, "title": "round trip", "content": "x"}
    )
    assert again.status_code == 201, again.text
    assert again.json()["label"]["classification"] == "GOKUHI"


def test_a_copy_held_here_carries_the_alternative_label(served: Served) -> None:
    item_id = str(uuid.uuid4())
    with served.node.audit.transaction() as tx:
        received = {"id": item_id, "title": "Canada's report", "need_to_know": [], "area": None}
        received |= {"originator": "CAN", "classification": "S", "releasable_to": ["JPN"]}
        received |= {"created_at": "2026-03-01T00:00:00+00:00", "created_by": "can-1"}
        served.node.store_received(
            tx, received, b"report", sender="CAN", package_id=item_id, marking="CAN S"
        )
    labels = _labels(served.http.get(f"/api/v1/items/{item_id}/label.xml"))
    kinds = [(x.kind.value, x.policy, x.classification) for x in labels]  # type: ignore[attr-defined]
    assert kinds == [
        ("originatorConfidentialityLabel", "Canada", "SECRET"),
        ("alternativeConfidentialityLabel", "Japan", "極秘"),
    ]


@pytest.mark.parametrize(
    ("label_xml", "fragment"),
    [
        (_label_xml("Atlantis", "SECRET"), "PolicyIdentifier: no policy 'Atlantis'"),
        (_label_xml("Japan", "TOP"), "Classification: 'TOP' is not a classification of Japan"),
        (_label_xml("Japan", "秘", url="urn:oid:1.2.3"), "no policy OID 1.2.3"),
        (
            _label_xml(
                "Japan",
                "秘",
                '<Category TagName="X" Type="PERMISSIVE"><GenericValue>A</GenericValue></Category>',
            ),
            "Category[X]: unknown tag of Japan",
        ),
        ('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DTDForbidden"),
        ("<unclosed>", "not well-formed XML"),
    ],
)
def test_a_bad_4774_label_is_refused_naming_the_element_and_nothing_stored(
    served: Served, label_xml: str, fragment: str
) -> None:
    before = served.http.get("/api/v1/items").json()
    refusals = served.refusals()
    response = served.http.post(
        "/api/v1/items", json={"label_xml": label_xml, "title": "bad", "content": "x"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert fragment in detail
    assert len(detail.splitlines()) == 1
    assert served.http.get("/api/v1/items").json()["items"] == before["items"]
    assert served.refusals() == refusals + 1


def test_label_and_label_xml_together_or_neither_are_refused(served: Served) -> None:
    neither = served.http.post("/api/v1/items", json={"title": "t", "content": "x"})
    assert neither.status_code == 422, neither.text
    assert [e["place"] for e in neither.json()["errors"]] == ["body.label"]
    both = served.http.post(
        "/api/v1/items",
        json={
            "label": {"originator": "JPN", "classification": "HI"},
            "label_xml": _label_xml("Japan", "秘"),
            "title": "t",
            "content": "x",
        },
    )
    assert both.status_code == 422, both.text
    assert "give exactly one of label and label_xml" in both.json()["detail"]


def test_the_label_of_an_unknown_item_is_not_found(served: Served) -> None:
    assert served.http.get(f"/api/v1/items/{uuid.uuid4()}/label.xml").status_code == 404
