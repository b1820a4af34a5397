"""Refusals: each the spec's status and error message resource, audited, nothing stored.

Whole requests (§3.6): bad envelopes 400, wrong Accept 406, wrong Content-Type 415,
oversize 413, no credentials 401, unknown collection 404, bad filters 400. Objects (the
status resource): no label, another originator, unknown level or policy, not STIX 2.1 —
each a failure with its reason, the valid ones beside them stored.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from gsoia.node.stix import EXTENSION_ID
from gsoia.store.schema import audit_entries, items, stix_objects
from tests.node.conftest import RunningNode
from tests.taxii.support import OBJECTS, ROOT, TAXII, indicator, label, raw


def stored(node: RunningNode) -> tuple[int, int, list[str]]:
    """(items, STIX objects, audit entry kinds) in the node's store."""
    opened = node.open()
    try:
        with opened.engine.connect() as connection:
            count_items = connection.execute(select(func.count()).select_from(items)).scalar()
            count_stix = connection.execute(select(func.count()).select_from(stix_objects)).scalar()
            kinds = list(connection.execute(select(audit_entries.c.kind)).scalars())
    finally:
        opened.close()
    return int(count_items or 0), int(count_stix or 0), kinds


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    assert body["http_status"] == str(status)
    assert body["title"]
    assert body["description"]
    return body


def post(client: Any, body: bytes | str, content_type: str = TAXII) -> Any:
    return client.post(OBJECTS, content=body, headers={"Content-Type": content_type})


def test_bad_envelopes_are_refused_whole(taxii_node: RunningNode) -> None:
    good = json.dumps({"objects": [indicator(1)]})
    with raw(taxii_node, "jp") as client:
        for body in (
            b"{not json",
            b"\xff\xfe",
            b"[]",
            b'"objects"',
            json.dumps({"objects": {"id": "x"}}),
            json.dumps({"objects": [indicator(1)], "more": "yes"}),
            json.dumps({"type": "bundle", "id": "bundle--1", "objects": [indicator(1)]}),
        ):
            assert_error(post(client, body), 400)
        assert_error(post(client, good, "application/json"), 415)
        assert_error(post(client, good, "application/taxii+json;version=2.0"), 415)
        assert_error(post(client, good, "application/stix+json;version=2.1"), 415)
        assert_error(
            client.post(
                OBJECTS, content=good, headers={"Content-Type": TAXII, "Accept": "text/html"}
            ),
            406,
        )
    assert stored(taxii_node)[:2] == (0, 0)
    assert stored(taxii_node)[2].count("refused") == 11


def test_oversize_bodies(taxii_node: RunningNode) -> None:
    big = json.dumps({"objects": [indicator(1, description="x" * (11 * 1024 * 1024))]})
    with raw(taxii_node, "jp") as client:
        assert_error(post(client, big), 413)

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            for _ in range(12):
                yield b" " * (1024 * 1024)

        assert_error(client.post(OBJECTS, content=chunks(), headers={"Content-Type": TAXII}), 413)
    count_items, count_stix, kinds = stored(taxii_node)
    assert (count_items, count_stix) == (0, 0)
    assert kinds.count("refused") == 2


def test_negotiation_credentials_collections_and_filters(taxii_node: RunningNode) -> None:
    with raw(taxii_node, None) as anonymous:
        body = assert_error(anonymous.get("/taxii2/"), 401)
        assert "WWW-Authenticate" in anonymous.get(f"{ROOT}collections/").headers
        assert body["title"] == "Unauthorized"
        wrong = anonymous.get("/taxii2/", headers={"Authorization": "Bearer nope"})
        assert_error(wrong, 401)
    with raw(taxii_node, "jp") as client:
        assert_error(client.get("/taxii2/", headers={"Accept": "application/json"}), 406)
        assert_error(
            client.get("/taxii2/", headers={"Accept": "application/taxii+json;version=2.0"}), 406
        )
        for accept in ("application/taxii+json", "*/*", f"text/html, {TAXII}"):
            assert client.get("/taxii2/", headers={"Accept": accept}).status_code == 200
        assert_error(client.get(f"{ROOT}collections/nope/"), 404)
        assert_error(client.get(f"{ROOT}collections/nope/objects/"), 404)
        assert_error(client.get(f"{ROOT}status/nope/"), 404)
        assert client.get(f"{ROOT}collections/intel/").json()["alias"] == "intel"
        for params in (
            {"limit": "0"},
            {"limit": "-1"},
            {"limit": "many"},
            {"added_after": "yesterday"},
            {"added_after": "2026-02-30T00:00:00Z"},
            {"next": "page-2"},
            {"next": "9007199254740992-1"},  # beyond what JSON carries exactly
            {"next": "1-999999999999999999"},
            {"match[version]": "newest"},
            {"match[id]": ","},
        ):
            body = assert_error(client.get(OBJECTS, params=params), 400)
            assert [e["place"] for e in body["details"]["errors"]] == [next(iter(params))]
        assert client.get(OBJECTS, params={"limit": "100000"}).status_code == 200


def test_objects_refused_one_by_one(taxii_node: RunningNode) -> None:
    good = indicator(1)
    no_label = indicator(2, extensions={})
    other_extension = indicator(
        3,
        extensions={
            "extension-definition--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12: {
                "extension_type": "property-extension"
            }
        },
    )
    foreign = indicator(4, extension=label(originator="CAN", classification="S"))
    unknown_level = indicator(5, extension=label("SECRET"))
    unknown_group = indicator(6, extension=label(releasable_to=("NOWHERE",)))
    stray = indicator(7, extension=label() | {"custodian_marking": "CAN SECRET"})
    bad_pattern = indicator(8, pattern="[ipv4-addr:value = ")
    missing = indicator(9)
    del missing["valid_from"]
    old = indicator(10, spec_version="2.0")
    not_object = "indicator--1"
    too_high = indicator(11, extension=label("KIMITSU") | {"need_to_know": ["nuclear"]})
    envelope = [
        good,
        no_label,
        other_extension,
        foreign,
        unknown_level,
        unknown_group,
        stray,
        bad_pattern,
        missing,
        old,
        not_object,
        too_high,
    ]
    with raw(taxii_node, "jp") as client:
        response = post(client, json.dumps({"objects": envelope}))
        assert response.status_code == 202, response.text
        assert response.headers["content-type"] == TAXII
        status = response.json()
    assert (status["total_count"], status["success_count"]) == (12, 1), status
    assert status["failure_count"] == 11
    assert status["pending_count"] == 0
    assert [s["id"] for s in status["successes"]] == [good["id"]]
    reasons = {f["id"]: f["message"] for f in status["failures"]}
    assert "no confidentiality label" in reasons[no_label["id"]]
    assert "no confidentiality label" in reasons[other_extension["id"]]
    assert "must be this node's nation JPN" in reasons[foreign["id"]]
    assert "unknown level 'SECRET' of JPN" in reasons[unknown_level["id"]]
    assert "unknown policy or group 'NOWHERE'" in reasons[unknown_group["id"]]
    assert "set by the node" in reasons[stray["id"]]
    assert "invalid pattern" in reasons[bad_pattern["id"]]
    assert "valid_from" in reasons[missing["id"]]
    assert "STIX 2.1" in reasons[old["id"]]
    assert "not a STIX object" in reasons[""]
    assert "NEED_TO_KNOW" in reasons[too_high["id"]]  # nobody files what they could not read
    count_items, count_stix, kinds = stored(taxii_node)
    assert (count_items, count_stix) == (1, 1)
    assert kinds.count("item.created") == 1
    assert kinds.count("taxii.added") == 1
    with raw(taxii_node, "jp") as client:
        objects = client.get(OBJECTS).json()["objects"]
    assert [o["id"] for o in objects] == [good["id"]]
    extension = dict(objects[0]["extensions"][EXTENSION_ID])
    assert "<slab:Classification>極秘</slab:Classification>" in extension.pop("label_4774")
    assert extension == {
        k: v for k, v in label().items() if v != []
    }  # stored without empty lists: STIX 2.1 allows none


def test_foreign_users_cannot_write(taxii_node: RunningNode) -> None:
    with raw(taxii_node, "ca-s") as client:
        assert_error(post(client, json.dumps({"objects": [indicator(1)]})), 403)
    assert stored(taxii_node)[:2] == (0, 0)


def test_an_envelope_over_the_object_bound_is_refused_before_any_object_is_read(
    taxii_node: RunningNode,
) -> None:
    """More than ``MAX_ENVELOPE`` objects (empty ones: a few bytes each, far under the byte
    limit) is a 413, audited as a refusal, nothing stored; the API root says the bound."""
    from gsoia.node.taxii_store import MAX_ENVELOPE

    flood = b'{"objects":[' + b",".join([b"{}"] * (MAX_ENVELOPE + 1)) + b"]}"
    with raw(taxii_node, "jp") as client:
        root = client.get(ROOT).json()
        assert root["max_content_length"] == 10 * 1024 * 1024
        assert root["x_gsoia_max_envelope_objects"] == MAX_ENVELOPE
        assert f"at most {MAX_ENVELOPE} objects" in root["description"]
        body = assert_error(post(client, flood), 413)
        assert f"at most {MAX_ENVELOPE}" in body["description"]
    count_items, count_stix, kinds = stored(taxii_node)
    assert (count_items, count_stix) == (0, 0)
    assert kinds.count("refused") == 1
    assert "taxii.added" not in kinds


def test_a_status_resource_and_its_audit_entry_are_bounded(taxii_node: RunningNode) -> None:
    """An envelope of many refused objects: the status keeps every count and the first
    ``STATUS_DETAILS`` failures, the same when fetched again; the audit entry names a few
    reasons and counts them all."""
    from gsoia.node.taxii_envelope import STATUS_DETAILS
    from gsoia.node.taxii_store import AUDITED_REFUSALS, MAX_ENVELOPE

    bad = [indicator(n, extensions={}) for n in range(MAX_ENVELOPE - 1)]
    envelope = json.dumps({"objects": [indicator(1), *bad]}).encode()
    with raw(taxii_node, "jp") as client:
        response = post(client, envelope)
        assert response.status_code == 202, response.text
        status = response.json()
        again = client.get(f"{ROOT}status/{status['id']}/").json()
    assert again == status
    assert (status["total_count"], status["success_count"]) == (MAX_ENVELOPE, 1)
    assert (status["failure_count"], status["pending_count"]) == (MAX_ENVELOPE - 1, 0)
    assert len(status["failures"]) == STATUS_DETAILS
    assert [f["id"] for f in status["failures"]] == [o["id"] for o in bad[:STATUS_DETAILS]]
    assert len(response.content) < 40_000, len(response.content)
    opened = taxii_node.open()
    try:
        with opened.engine.connect() as connection:
            [entry] = connection.execute(
                select(audit_entries.c.body).where(audit_entries.c.kind == "taxii.added")
            ).scalars()
    finally:
        opened.close()
    assert len(entry) < 10_000, len(entry)
    data = json.loads(entry)["data"]
    assert (data["stored"], data["refused_count"]) == (1, MAX_ENVELOPE - 1)
    assert len(data["refused"]) == AUDITED_REFUSALS
