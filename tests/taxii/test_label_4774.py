"""The label extension's ``label_4774``: the originator's STANAG 4774 label, written by the
node on every object it stores, kept as sent when a client sends it (in place of the
label's fields or agreeing with them), and refused, naming the element, when it is bad or
contradicts the fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from sqlalchemy import select

from gsoia.labels_xml.label4774 import LabelDocument, label_from_element
from gsoia.labels_xml.names import LABEL_4774
from gsoia.node.service import Node
from gsoia.node.stix import EXTENSION_ID
from gsoia.node.stix_index import INTEL, Query
from gsoia.node.taxii_store import TaxiiStore
from gsoia.node.users import Role, User
from gsoia.store.schema import stix_objects
from tests.node.test_labels_releasable import tagged_catalogue
from tests.taxii.support import indicator, label


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("taxii4774")
    made = Node.init(root / "jpn", "JPN", catalogue=str(tagged_catalogue(root / "c.yaml")))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def writer(node: Node) -> User:
    return node.add_user("jp", "JPN", clearance="KIMITSU")[0]


def _xml(classification: str, released: tuple[str, ...] = ()) -> str:
    values = "".join(f"<GenericValue>{n}</GenericValue>" for n in released)
    category = (
        f'<Category TagName="Releasable To" Type="PERMISSIVE">{values}</Category>'
        if released
        else ""
    )
    return (
        f'<originatorConfidentialityLabel xmlns="{LABEL_4774}"><ConfidentialityInformation>'
        f"<PolicyIdentifier>Japan</PolicyIdentifier><Classification>{classification}"
        f"</Classification>{category}</ConfidentialityInformation>"
        "<CreationDateTime>2026-03-01T00:00:00Z</CreationDateTime>"
        "</originatorConfidentialityLabel>"
    )


def _emitted(node: Node, writer: User, stix_id: str) -> dict[str, Any]:
    store = TaxiiStore(node)
    _, objects = store.query(writer, INTEL, Query(ids=(stix_id,)))
    (emitted,) = (json.loads(o) for o in objects)
    extension: dict[str, Any] = emitted["extensions"][EXTENSION_ID]
    return extension


def _read(text: str) -> LabelDocument:
    return label_from_element(fromstring(text))


def test_an_object_stored_carries_its_originator_label_as_4774(node: Node, writer: User) -> None:
    obj = indicator(1, extension=label(releasable_to=("USA", "FVEY")))
    status = TaxiiStore(node).add(writer, INTEL, [obj])
    assert status["success_count"] == 1, status
    extension = _emitted(node, writer, obj["id"])
    written = _read(extension.pop("label_4774"))
    assert (written.policy, written.classification) == ("Japan", "極秘")
    assert [(c.tag, c.values) for c in written.categories] == [("Releasable To", ["USA", "FVEY"])]
    assert extension == {k: v for k, v in label(releasable_to=("USA", "FVEY")).items() if v}


def test_a_4774_label_sent_stands_for_the_fields_and_comes_back_as_gsoia_writes_it(
    node: Node, writer: User
) -> None:
    sent = _xml("秘", ("GBR",)).replace("<Classification>", "<!-- a note --><Classification>")
    obj = indicator(2, extension={"extension_type": "property-extension", "label_4774": sent})
    status = TaxiiStore(node).add(writer, INTEL, [obj])
    assert status["success_count"] == 1, status
    extension = _emitted(node, writer, obj["id"])
    stored = extension.pop("label_4774")
    assert extension == {
        "extension_type": "property-extension",
        "originator": "JPN",
        "classification": "HI",
        "releasable_to": ["GBR"],
    }
    assert _read(stored) == _read(sent)  # its creation time too
    assert _read(stored).created == "2026-03-01T00:00:00Z"
    assert "a note" not in stored  # only what gsoia understood


@pytest.mark.parametrize(
    ("extension", "fragment"),
    [
        (
            {**label("HI", releasable_to=()), "label_4774": _xml("極秘")},
            "label_4774: stands for classification GOKUHI, not HI",
        ),
        (
            {**label("HI", releasable_to=("USA",)), "label_4774": _xml("秘", ("GBR",))},
            "label_4774: stands for releasable_to ['GBR'], not ['USA']",
        ),
        (
            {
                **label("HI", releasable_to=()),
                "releasable_to": 5,
                "label_4774": _xml("秘", ("GBR",)),
            },
            "label_4774: stands for releasable_to ['GBR'], not 5",
        ),
        (
            {"extension_type": "property-extension", "label_4774": _xml("TOP")},
            "label_4774: Classification: 'TOP' is not a classification of Japan",
        ),
        (
            {"extension_type": "property-extension", "label_4774": ["<x/>"]},
            "label_4774' must be a string",
        ),
    ],
)
def test_a_bad_or_contradicting_4774_label_is_refused(
    node: Node, writer: User, extension: dict[str, Any], fragment: str
) -> None:
    obj = indicator(3, extension=extension)
    status = TaxiiStore(node).add(writer, INTEL, [obj])
    assert status["success_count"] == 0
    (failure,) = status["failures"]
    assert fragment in failure["message"], failure["message"]
    assert len(failure["message"].splitlines()) == 1


def test_a_reclassified_object_is_emitted_with_its_new_label(node: Node, writer: User) -> None:
    obj = indicator(4, extension=label(releasable_to=("USA",)))
    obj["extensions"][EXTENSION_ID]["label_4774"] = _xml("極秘", ("USA",))
    kept = indicator(5, extension=label(releasable_to=("USA",)))
    kept["extensions"][EXTENSION_ID]["label_4774"] = _xml("極秘", ("USA",))
    status = TaxiiStore(node).add(writer, INTEL, [obj, kept])
    assert status["success_count"] == 2, status
    officer = node.add_user("jp-officer", "JPN", clearance="KIMITSU", role=Role.OFFICER)[0]
    stored = {row.stix_id: row.item_id for row in _stix_rows(node)}
    node.exchange.reclassify(officer, stored[obj["id"]], "HI")
    extension = _emitted(node, writer, obj["id"])
    written = _read(extension.pop("label_4774"))
    # every field of the extension follows the item's label, the 4774 label as well
    assert extension["classification"] == "HI"
    assert (written.classification, written.created) == ("秘", None)
    assert [(c.tag, c.values) for c in written.categories] == [("Releasable To", ["USA"])]
    # an object not reclassified keeps the label as sent, its creation time too
    untouched = _read(_emitted(node, writer, kept["id"])["label_4774"])
    assert (untouched.classification, untouched.created) == ("極秘", _read(_xml("極秘")).created)


def _stix_rows(node: Node) -> list[Any]:
    with node.engine.connect() as connection:
        return list(connection.execute(select(stix_objects.c.stix_id, stix_objects.c.item_id)))
