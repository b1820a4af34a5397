"""The officer's endpoints through a real server: consents, incidents, the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from gsoia.audit.log import head_message
from gsoia.audit.merkle import CompactRange, leaf_hash
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.signing import verify
from gsoia.node.users import Role
from tests.node.conftest import RunningNode
from tests.node.test_api_items import assert_problem, create, label, places, verified_audit_size

KINDS = ("loss", "compromise", "possible_loss", "possible_compromise")


def test_consents(jpn: RunningNode) -> None:
    jpn.add_user("officer", "JPN", "KIMITSU", role=Role.OFFICER)
    jpn.add_user("admin", "JPN", "HI", role=Role.ADMIN)
    jpn.add_user("analyst", "JPN", "KIMITSU")
    jpn.add_user("ca-officer", "CAN", "TS", role=Role.OFFICER)
    jpn.start()
    with jpn.client("analyst") as analyst:
        item = create(analyst, "Shared", label("GOKUHI", ["CAN", "USA"]))
        other = create(analyst, "Other", label("HI", ["CAN"]))
        # an analyst cannot consent
        response = analyst.post(f"/api/v1/items/{item}/consents", json={"to": "USA"})
        assert_problem(response, 403, "forbidden")
    with jpn.client("ca-officer") as ca_officer:
        # an officer of another nation cannot consent for Japan's items
        response = ca_officer.post(f"/api/v1/items/{item}/consents", json={"to": "USA"})
        assert_problem(response, 403, "forbidden")

    with jpn.client("officer") as officer:
        for bad, place in [({"to": "XXX"}, "to"), ({"to": "FVEY"}, "to")]:
            body = assert_problem(
                officer.post(f"/api/v1/items/{item}/consents", json=bad), 422, "invalid"
            )
            assert any(p.endswith(place) for p in places(body)), body
        for bad_body in [{}, {"to": ""}, {"to": "USA", "extra": 1}, {"to": 3}, ["USA"]]:
            assert_problem(
                officer.post(f"/api/v1/items/{item}/consents", json=bad_body), 422, "invalid"
            )
        assert_problem(
            officer.post(f"/api/v1/items/{uuid.uuid4()}/consents", json={"to": "USA"}),
            404,
            "not-found",
        )
        assert officer.get(f"/api/v1/items/{item}").json()["consented_to"] == []

        response = officer.post(f"/api/v1/items/{item}/consents", json={"to": "USA"})
        assert response.status_code == 201, response.text
        granted = response.json()
        assert granted["item"] == item
        assert granted["to"] == "USA"
        assert granted["granted_by"] == "officer"
        dt.datetime.fromisoformat(granted["granted_at"])
        assert officer.get(f"/api/v1/items/{item}").json()["consented_to"] == ["USA"]

        # a second consent to the same party is not a second entry in the item
        again = officer.post(f"/api/v1/items/{item}/consents", json={"to": "USA"})
        assert again.status_code in (200, 201), again.text
        assert officer.get(f"/api/v1/items/{item}").json()["consented_to"] == ["USA"]

    with jpn.client("admin") as admin:  # admin counts as an officer, cleared HI only
        response = admin.post(f"/api/v1/items/{item}/consents", json={"to": "GBR"})
        assert_problem(response, 403, "denied")  # it may not read a GOKUHI item
        assert response.json()["reason"] == "CLEARANCE"
        response = admin.post(f"/api/v1/items/{other}/consents", json={"to": "GBR"})
        assert response.status_code == 201, response.text
    with jpn.client("officer") as officer:
        response = officer.post(f"/api/v1/items/{item}/consents", json={"to": "GBR"})
        assert response.status_code == 201, response.text

    with jpn.client("analyst") as analyst:
        views = {i["id"]: i for i in analyst.get("/api/v1/items").json()["items"]}
        assert sorted(views[item]["consented_to"]) == ["GBR", "USA"]
        assert views[other]["consented_to"] == ["GBR"]
        # the consent left the item intact: it still reads
        read = analyst.get(f"/api/v1/items/{item}")
        assert read.status_code == 200, read.text
        assert sorted(read.json()["consented_to"]) == ["GBR", "USA"]
    assert verified_audit_size(jpn) > 0


def test_incidents(jpn: RunningNode) -> None:
    jpn.add_user("officer", "JPN", "KIMITSU", role=Role.OFFICER)
    jpn.add_user("analyst", "JPN", "KIMITSU")
    jpn.add_user("ca", "CAN", "S")
    jpn.add_user("ca-c", "CAN", "C")
    jpn.start()
    with jpn.client("analyst") as analyst:
        item = create(analyst, "Lost", label("GOKUHI", ["CAN"]))
        reported: list[dict[str, Any]] = []
        for kind in KINDS[:-1]:  # possible_compromise: at the end (see the report)
            started = dt.datetime.now(dt.UTC).replace(microsecond=0)
            response = analyst.post(
                "/api/v1/incidents",
                json={"item": item, "kind": kind, "description": f"{kind} at sea"},
            )
            assert response.status_code == 201, response.text
            incident = response.json()
            uuid.UUID(incident["id"])
            assert incident["item_id"] == item
            assert incident["kind"] == kind
            assert incident["description"] == f"{kind} at sea"
            assert incident["reported_by"] == "analyst"
            at = dt.datetime.fromisoformat(incident["reported_at"])
            assert at.utcoffset() == dt.timedelta(0)
            assert started <= at <= dt.datetime.now(dt.UTC)
            notify_by = dt.datetime.fromisoformat(incident["notify_by"])
            assert notify_by - at == dt.timedelta(hours=24)
            # this node is the originator: it knows at once, nothing is overdue
            assert incident["notified_at"] == incident["reported_at"]
            assert incident["overdue"] is False
            assert 86_000 < incident["seconds_left"] <= 86_400
            reported.append(incident)

        # without a description
        response = analyst.post("/api/v1/incidents", json={"item": item, "kind": "loss"})
        assert response.status_code == 201, response.text
        assert response.json()["description"] == ""
        reported.append(response.json())

        for bad, place in [
            ({"item": item, "kind": "theft"}, "kind"),
            ({"item": item}, "kind"),
            ({"kind": "loss"}, "item"),
            ({"item": item, "kind": "loss", "description": "d" * 10_001}, "description"),
            ({"item": item, "kind": "loss", "extra": 1}, "extra"),
        ]:
            body = assert_problem(analyst.post("/api/v1/incidents", json=bad), 422, "invalid")
            assert any(p.endswith(place) for p in places(body)), body

        # an unknown item: 404
        body = assert_problem(
            analyst.post("/api/v1/incidents", json={"item": str(uuid.uuid4()), "kind": "loss"}),
            404,
            "not-found",
        )
        # only officers see the incidents
        assert_problem(analyst.get("/api/v1/incidents"), 403, "forbidden")

    # a reporter that may not see the item: 404 like an unknown one, nothing stored
    with jpn.client("ca-c") as ca_c:
        response = ca_c.post("/api/v1/incidents", json={"item": item, "kind": "compromise"})
        refused = assert_problem(response, 404, "not-found")
        assert refused["title"] == body["title"]
        assert "reason" not in refused

    # a foreign reader that may see it can report it
    with jpn.client("ca") as ca:
        response = ca.post("/api/v1/incidents", json={"item": item, "kind": "possible_loss"})
        assert response.status_code == 201, response.text
        reported.append(response.json())
        assert_problem(ca.get("/api/v1/incidents"), 403, "forbidden")

    with jpn.client("officer") as officer:
        response = officer.get("/api/v1/incidents")
        assert response.status_code == 200, response.text
        # newest first; incidents reported within one instant come in no fixed order
        listed = sorted(response.json(), key=lambda i: str(i["id"]))
        reported.sort(key=lambda i: str(i["id"]))
        assert [i["id"] for i in listed] == [i["id"] for i in reported]
        for got, sent in zip(listed, reported, strict=True):
            for key in (
                "item_id",
                "kind",
                "description",
                "reported_by",
                "reported_at",
                "notify_by",
                "notified_at",
            ):
                assert got[key] == sent[key], key
            assert got["overdue"] is False
    assert verified_audit_size(jpn) > 0

    # the longest kind (19 characters) is stored on every database
    with jpn.client("analyst") as analyst:
        response = analyst.post(
            "/api/v1/incidents", json={"item": item, "kind": "possible_compromise"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == "possible_compromise"
    with jpn.client("officer") as officer:
        kinds = [i["kind"] for i in officer.get("/api/v1/incidents").json()]
        assert sorted(set(kinds)) == sorted(KINDS)
    assert verified_audit_size(jpn) > 0


def test_audit(jpn: RunningNode) -> None:
    jpn.add_user("officer", "JPN", "KIMITSU", role=Role.OFFICER)
    jpn.add_user("jp", "JPN", "KIMITSU", ["maritime"])
    jpn.add_user("ca-c", "CAN", "C")
    jpn.start()
    with jpn.client("jp") as jp:
        item = create(jp, "Patrol", label("GOKUHI", ["CAN", "USA"], area="maritime"))
        assert jp.get(f"/api/v1/items/{item}").status_code == 200
        page = jp.get("/api/v1/items", params={"area": "maritime", "q": "pat"}).json()
        assert len(page["items"]) == 1
        response = jp.post("/api/v1/incidents", json={"item": item, "kind": "loss"})
        assert response.status_code == 201, response.text
        incident = response.json()["id"]
        assert_problem(jp.get("/api/v1/audit"), 403, "forbidden")  # analysts: no
        assert_problem(jp.get(f"/api/v1/items/{uuid.uuid4()}"), 404)
    with jpn.client("ca-c") as ca_c:
        assert_problem(ca_c.get(f"/api/v1/items/{item}"), 403, "denied")
        assert ca_c.get("/api/v1/items", params={"originator": "JPN"}).json()["items"] == []
    with jpn.client("officer") as officer:
        response = officer.post(f"/api/v1/items/{item}/consents", json={"to": "GBR"})
        assert response.status_code == 201, response.text
        assert_problem(
            officer.post(f"/api/v1/items/{item}/consents", json={"to": "XXX"}), 422, "invalid"
        )
        decided = officer.post(
            "/api/v1/decide",
            json={
                "subject": {"id": "x", "nation": "CAN", "clearance": "S"},
                "label": {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]},
            },
        )
        assert decided.status_code == 200, decided.text

        response = officer.get("/api/v1/audit", params={"limit": 1000})
        assert response.status_code == 200, response.text
        log = response.json()

    entries = log["entries"]
    assert [e["seq"] for e in entries] == list(range(len(entries)))

    def only(kind: str, **data: Any) -> dict[str, Any]:
        found = [
            e
            for e in entries
            if e["kind"] == kind and all(e["data"].get(k) == v for k, v in data.items())
        ]
        assert len(found) == 1, (kind, data, [e for e in entries if e["kind"] == kind])
        entry: dict[str, Any] = found[0]
        return entry

    assert len([e for e in entries if e["kind"] == "user.added"]) == 3
    created = only("item.created", item=item)
    assert created["actor"] == "jp"
    assert created["data"]["label"]["classification"] == "GOKUHI"
    assert only("item.read", item=item)["actor"] == "jp"
    refused_read = only("item.refused", item=item)
    assert refused_read["actor"] == "ca-c"
    assert refused_read["data"]["reason"] == "CLEARANCE"
    assert only("item.refused", reason="NOT_FOUND")["actor"] == "jp"
    listings = [e for e in entries if e["kind"] == "items.listed"]
    by_actor = {e["actor"]: e["data"] for e in listings}
    # another user's search text is withheld from the officer; the rest of the entry shown
    assert by_actor["jp"]["filter"] == {"area": "maritime", "q": None}
    assert [e["withheld"] for e in listings if e["actor"] == "jp"] == [["filter.q"]]
    assert by_actor["jp"]["returned"] == 1
    assert by_actor["ca-c"]["filter"] == {"originator": "JPN"}
    assert by_actor["ca-c"]["returned"] == 0
    consent = only("consent.granted", item=item)
    assert consent["actor"] == "officer"
    assert consent["data"]["to"] == "GBR"
    reported = only("incident.reported", incident=incident)
    assert reported["actor"] == "jp"
    assert reported["data"]["kind"] == "loss"
    assert reported["data"]["item"] == item
    refusals = [e for e in entries if e["kind"] == "refused"]
    assert any(e["actor"] == "jp" and "/api/v1/audit" in e["data"]["action"] for e in refusals)
    assert any(e["actor"] == "officer" and "consents" in e["data"]["action"] for e in refusals), (
        refusals
    )
    assert only("decide")["data"] == {"allow": True, "reason": "ALLOW", "rule": 8}

    # the signed head covers exactly the served entries
    head = log["head"]
    assert head["size"] == len(entries)
    signing_key = bytes.fromhex(log["signing_key"])
    # an entry with some fields withheld from this officer proves its place by its leaf
    leaves = [
        bytes.fromhex(e["leaf"]) if "withheld" in e else leaf_hash(canonical_json(e))
        for e in entries
    ]
    root = CompactRange.from_leaves(leaves).root()
    assert head["root"] == root.hex()
    verify(signing_key, head_message(head["size"], root), bytes.fromhex(head["signature"]))

    # paging: after and limit
    with jpn.client("officer") as officer:
        first = officer.get("/api/v1/audit", params={"limit": 2}).json()
        assert first["entries"] == entries[:2]
        rest = officer.get("/api/v1/audit", params={"after": 1, "limit": 3}).json()
        assert rest["entries"] == entries[2:5]
        assert rest["head"]["size"] >= len(entries)  # reading the log writes nothing else
        bad_params: list[dict[str, Any]] = [
            {"limit": 0},
            {"limit": 1001},
            {"after": -2},
            {"after": "x"},
            {"after": 2**53},  # beyond what JSON carries exactly
            {"after": 2**62},
        ]
        for bad in bad_params:
            refused = assert_problem(officer.get("/api/v1/audit", params=bad), 422, "invalid")
            assert [e["place"] for e in refused["errors"]] == [f"query.{next(iter(bad))}"]
        final = officer.get("/api/v1/audit", params={"limit": 1000}).json()
        assert final["head"]["size"] == len(final["entries"])

    opened = jpn.open()
    try:
        verified = opened.verify_audit()
        assert verified is not None
        assert verified.size == final["head"]["size"]
        assert verified.root.hex() == final["head"]["root"]
    finally:
        opened.close()


def test_an_officer_acts_only_on_what_it_may_read(jpn: RunningNode) -> None:
    """An officer without clearance neither downgrades a KIMITSU item nor consents to its
    release; one cleared GOKUHI downgrades a GOKUHI item but does not raise it to KIMITSU."""
    jpn.add_user("lowofficer", "JPN", role=Role.OFFICER)  # no clearance
    jpn.add_user("midofficer", "JPN", "GOKUHI", role=Role.OFFICER)
    jpn.add_user("analyst", "JPN", "KIMITSU")
    jpn.add_user("hi-analyst", "JPN", "HI")
    jpn.start()
    with jpn.client("analyst") as analyst:
        top = create(analyst, "Top", label("KIMITSU", ["USA"]))
        mid = create(analyst, "Mid", label("GOKUHI", ["USA"]))
    with jpn.client("lowofficer") as low:
        for path, body in [
            (f"/api/v1/items/{top}/classification", {"classification": "HI"}),
            (f"/api/v1/items/{top}/consents", {"to": "USA"}),
        ]:
            refused = assert_problem(low.post(path, json=body), 403, "denied")
            assert refused["reason"] == "CLEARANCE", refused
    with jpn.client("hi-analyst") as hi:
        assert_problem(hi.get(f"/api/v1/items/{top}"), 403, "denied")  # still KIMITSU
    with jpn.client("analyst") as analyst:
        assert analyst.get(f"/api/v1/items/{top}").json()["consented_to"] == []
    with jpn.client("midofficer") as mid_officer:
        raised = mid_officer.post(
            f"/api/v1/items/{mid}/classification", json={"classification": "KIMITSU"}
        )
        assert assert_problem(raised, 403, "denied")["reason"] == "CLEARANCE"
        lowered = mid_officer.post(
            f"/api/v1/items/{mid}/classification", json={"classification": "HI"}
        )
        assert lowered.status_code == 200, lowered.text
    with jpn.client("hi-analyst") as hi:
        assert hi.get(f"/api/v1/items/{mid}").status_code == 200


def test_the_audit_log_withholds_what_the_officer_may_not_read(jpn: RunningNode) -> None:
    jpn.add_user("analyst", "JPN", "KIMITSU", ["maritime"])
    jpn.add_user("hi-officer", "JPN", "HI", ["maritime"], role=Role.OFFICER)
    jpn.start()
    with jpn.client("analyst") as analyst:
        top = create(analyst, "Top", label("KIMITSU", ["CAN"]))
        low = create(analyst, "Low", label("HI", ["CAN"]))
        assert analyst.get(f"/api/v1/items/{top}").status_code == 200
        analyst.get("/api/v1/items", params={"q": "operation nightfall"})
    with jpn.client("hi-officer") as officer:
        assert_problem(officer.post(f"/api/v1/items/{top}/consents", json={"to": "USA"}), 403)
        log = officer.get("/api/v1/audit", params={"limit": 1000}).json()
    entries = log["entries"]
    about_top = [e for e in entries if top in str(e["data"])]
    assert {e["kind"] for e in about_top} >= {"item.created", "item.read", "refused"}
    for entry in about_top:
        assert set(entry["data"]) <= {"item", "action"}, entry
        assert entry["withheld"], entry
        assert "KIMITSU" not in str(entry)
        assert "nightfall" not in str(entry)
        # the entry's leaf hash is given, so the withheld entry still proves its place
        assert len(bytes.fromhex(entry["leaf"])) == 32
    created_low = [e for e in entries if e["kind"] == "item.created" and e["data"]["item"] == low]
    assert created_low[0]["data"]["label"]["classification"] == "HI"
    assert "withheld" not in created_low[0]
    searches = [e for e in entries if e["kind"] == "items.listed" and e["actor"] == "analyst"]
    assert searches
    assert all(e["data"]["filter"].get("q") is None for e in searches)
    assert "nightfall" not in str(entries)
