"""Assurances between two real nodes: issued by CAN's officer, received and listed at JPN
with the equivalent level, encrypted at rest, withdrawn; the birth data sent only where
JPN's policy asks for it; bad input refused, nothing stored, the refusal audited."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gsoia.federation.packages import Kind
from gsoia.store.schema import assurances, outbox
from tests.visits.conftest import TODAY, Pair, assurance_body, refused_at, served_pair, signed


def _listed(pair: Pair, node: str, assurance_id: str) -> dict[str, Any]:
    runner = pair.jpn if node == "JPN" else pair.can
    with runner.client(f"{node.lower()}-officer") as client:
        response = client.get("/api/v1/assurances")
    assert response.status_code == 200, response.text
    found = [a for a in response.json() if a["id"] == assurance_id]
    assert len(found) == 1, response.json()
    return dict(found[0])


def test_an_assurance_reaches_the_partner_with_its_equivalent_level(pair: Pair) -> None:
    assurance = pair.assure("can-0001", "S")
    received = _listed(pair, "JPN", assurance)
    assert received["direction"] == "received"
    assert (received["from"], received["clearance"]) == ("CAN", "S")
    assert (received["equivalent"], received["agreement"]) == ("GOKUHI", "JPN-CAN")
    assert received["person"] == {"id": "can-0001", "name": "Analyst can-0001"}
    issued = _listed(pair, "CAN", assurance)
    assert (issued["direction"], issued["state"]) == ("issued", "valid")


def test_the_name_is_nowhere_in_the_clear(pair: Pair) -> None:
    assurance = pair.assure("can-0002", "C", person={"id": "can-0002", "name": "Zacharie Q"})
    for runner in (pair.jpn, pair.can):
        store = pair.store(runner)
        with store.engine.connect() as connection:
            row = connection.execute(select(assurances).where(assurances.c.id == assurance)).one()
            payloads = connection.execute(select(outbox.c.payload)).scalars().all()
        assert b"Zacharie" not in bytes(row.personal)
        assert not any("Zacharie" in p for p in payloads)
        assert "Zacharie" not in str(pair.audit_since(runner, 0))
    assert _listed(pair, "JPN", assurance)["person"]["name"] == "Zacharie Q"


def test_an_analyst_sees_no_assurance(pair: Pair) -> None:
    with pair.jpn.client("jpn-analyst") as client:
        response = client.get("/api/v1/assurances")
    assert response.status_code == 403
    assert response.json()["reason"] == "ROLE"


def test_a_withdrawal_is_told_to_the_partner(pair: Pair) -> None:
    assurance = pair.assure("can-0003")
    with pair.can.client("can-officer") as client:
        response = client.post(f"/api/v1/assurances/{assurance}/withdraw")
        again = client.post(f"/api/v1/assurances/{assurance}/withdraw")
    assert response.status_code == 200, response.text
    assert response.json()["delivery"] == "delivered"
    assert again.status_code == 409
    assert _listed(pair, "JPN", assurance)["state"] == "withdrawn"


BAD = [
    ({"to": "USA"}, "no agreement between CAN and USA in force"),
    ({"to": "XXX"}, "not a partner policy"),
    ({"clearance": "GOKUHI"}, "unknown level 'GOKUHI' of CAN"),
    ({"expires": (TODAY - dt.timedelta(days=1)).isoformat()}, "is not after today"),
    ({"colour": "blue"}, "colour"),
    ({"person": {"id": "x", "name": "y", "shoe_size": 44}}, "shoe_size"),
    (  # JPN's policy in the bundled catalogue asks for no birth data
        {"person": {"id": "x", "name": "y", "birth_date": "1985-04-01"}},
        "JPN's policy does not ask for birth_date",
    ),
]


@pytest.mark.parametrize(("change", "said"), BAD)
def test_bad_assurances_are_refused_nothing_stored_audited(
    pair: Pair, change: dict[str, Any], said: str
) -> None:
    refused(pair, pair.can, "can-officer", change, said)


def test_a_clearance_the_agreement_does_not_map_is_refused(pair: Pair) -> None:
    # Japan-Korea maps no Korean level to KIMITSU (the bundled catalogue)
    change = {"to": "KOR", "clearance": "KIMITSU"}
    refused(pair, pair.jpn, "jpn-officer", change, "KIMITSU is above what JPN-KOR maps")


def refused(pair: Pair, runner: Any, user: str, change: dict[str, Any], said: str) -> None:
    body = {
        "to": "JPN",
        "person": {"id": "can-bad", "name": "Nobody"},
        "clearance": "S",
        "expires": (TODAY + dt.timedelta(days=30)).isoformat(),
    } | change
    store = pair.store(runner)
    with store.engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(assurances)).scalar()
    size = pair.audit_size(runner)
    with runner.client(user) as client:
        response = client.post("/api/v1/assurances", json=body)
    assert response.status_code == 422, response.text
    assert said in response.text
    with store.engine.connect() as connection:
        after = connection.execute(select(func.count()).select_from(assurances)).scalar()
    assert after == before
    entries = pair.audit_since(runner, size)
    assert [e["kind"] for e in entries] == ["refused"], entries
    assert "Nobody" not in str(entries)


def test_a_nul_character_is_refused_before_anything_is_stored(pair: Pair) -> None:
    refused(pair, pair.can, "can-officer", {"person": {"id": "a\x00b", "name": "x"}}, "person.id")
    refused(pair, pair.can, "can-officer", {"person": {"id": "a", "name": "x\x00"}}, "NUL")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def asking(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """JPN and CAN under a catalogue in which JPN's authority asks assurances for the
    person's date and place of birth."""
    import yaml

    from gsoia.catalogue import data

    tmp = tmp_path_factory.mktemp("asking")
    catalogue = yaml.safe_load((Path(data.__file__).parent / "default.yaml").read_text("utf-8"))
    catalogue["policies"]["JPN"]["assurance_fields"] = ["birth_date", "birth_place"]
    path = tmp / "catalogue.yaml"
    path.write_text(yaml.safe_dump(catalogue, allow_unicode=True), "utf-8")
    with ExitStack() as stack:
        yield served_pair(stack, tmp, request.param, str(path))


def test_birth_data_is_sent_where_the_receiving_policy_asks_for_it(asking: Pair) -> None:
    born = {"birth_date": "1985-04-01", "birth_place": "Ottawa"}
    assurance = asking.assure("can-0101", person={"id": "can-0101", "name": "B. Orn"} | born)
    with asking.jpn.client("jpn-officer") as client:
        listed = client.get("/api/v1/assurances").json()
    person = next(a["person"] for a in listed if a["id"] == assurance)
    assert person == {"id": "can-0101", "name": "B. Orn"} | born
    change = {"person": {"id": "x", "name": "y", "birth_place": "Ottawa"}}
    refused(asking, asking.can, "can-officer", change, "JPN's policy asks for birth_date")
    # and at JPN's node, an assurance without them from a partner that did not check
    package_id = str(uuid.uuid4())
    body = assurance_body(asking.store(asking.jpn), package_id)  # no birth data
    raw = signed(asking.store(asking.can), "JPN", Kind.ASSURANCE, body, package_id=package_id)
    refused_at(asking, asking.jpn, raw, 403, "REFUSED")


def test_what_a_policy_asks_of_assurances_leaves_the_label_columns_alone() -> None:
    from gsoia.catalogue.load import read_catalogue
    from gsoia.decision import Rulebook
    from gsoia.node.listing import catalogue_fingerprint

    catalogue = read_catalogue()
    jpn = catalogue.policies["JPN"]

    def fingerprint(**change: Any) -> str:
        policies = catalogue.policies | {"JPN": jpn.model_copy(update=change)}
        changed = catalogue.model_copy(update={"policies": policies})
        return catalogue_fingerprint(Rulebook(changed, lambda: TODAY))

    assert fingerprint() == fingerprint(assurance_fields=["birth_date"])
    assert fingerprint() != fingerprint(name="Nippon")  # (the rest of a policy counts)
