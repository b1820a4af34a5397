"""The OASIS taxii2-client (v21) against a real node: every endpoint, every filter, paging.

What a caller receives is decided by the agreements: a Canadian analyst cleared SECRET
sees the GOKUHI objects released to Canada, one cleared CONFIDENTIAL sees none of them,
and an American sees only what is released to the United States.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from taxii2client.exceptions import AccessError
from taxii2client.v21 import as_pages

from gsoia.node.stix import EXTENSION_ID
from gsoia.store.schema import audit_entries, items
from tests.node.conftest import RunningNode
from tests.taxii.support import (
    INTEL,
    OBJECTS,
    ROOT,
    TAXII,
    api_root,
    collection,
    indicator,
    label,
    raw,
    server,
    stix_problems,
)


def add(node: RunningNode, objects: list[dict[str, Any]], user: str = "jp") -> Any:
    status = collection(node, user).add_objects({"objects": objects}, poll_interval=0.1)
    assert status.status == "complete"
    return status


def ids(envelope: dict[str, Any]) -> list[str]:
    return [o["id"] for o in envelope.get("objects", [])]


def test_discovery_api_root_and_collections(taxii_node: RunningNode) -> None:
    found = server(taxii_node, "jp")
    assert found.title == "gsoia JPN node"
    assert [r.url for r in found.api_roots] == [f"{taxii_node.url}{ROOT}"]
    assert found.default is not None
    assert found.default.url == f"{taxii_node.url}{ROOT}"
    root = found.api_roots[0]
    assert root.versions == [TAXII]
    assert root.max_content_length == 10 * 1024 * 1024
    [intel] = root.collections
    assert (intel.id, intel.alias, intel.can_read, intel.can_write) == (INTEL, "intel", True, True)
    assert intel.media_types == ["application/stix+json;version=2.1"]
    [foreign] = api_root(taxii_node, "ca-s").collections
    assert (foreign.can_read, foreign.can_write) == (True, False)  # JPN users originate
    with pytest.raises(AccessError):
        foreign.add_objects({"objects": [indicator(1)]})


def test_add_objects_and_status(taxii_node: RunningNode) -> None:
    objects = [indicator(n) for n in range(5)]
    status = collection(taxii_node, "jp").add_objects(
        {"objects": objects}, wait_for_completion=True, poll_interval=0.1, timeout=30
    )
    assert (status.status, status.total_count, status.success_count) == ("complete", 5, 5)
    assert (status.failure_count, status.pending_count) == (0, 0)
    assert {s["id"] for s in status.successes} == {o["id"] for o in objects}
    assert all(s["version"] == "2026-03-01T00:00:00.000Z" for s in status.successes)
    again = api_root(taxii_node, "jp").get_status(status.id)
    assert again.success_count == 5
    assert again.request_timestamp == status.request_timestamp
    with raw(taxii_node, "ca-s") as other:  # a status is its poster's
        assert other.get(f"{ROOT}status/{status.id}/").status_code == 404
    # sending the same versions again stores nothing twice
    repeated = add(taxii_node, objects[:2])
    assert repeated.success_count == 2
    assert all(s.get("message") == "already present" for s in repeated.successes)
    assert len(collection(taxii_node, "jp").get_objects()["objects"]) == 5


def test_get_objects_filters(taxii_node: RunningNode) -> None:
    first = indicator(1)
    versions = [
        indicator(2, stix_id="indicator--0c5f7d1e-9c6b-4b34-9d77-2f1d2f5cf0a1", modified=m)
        for m in (
            "2026-03-01T00:00:00.000Z",
            "2026-03-02T00:00:00.000Z",
            "2026-03-03T00:00:00.000Z",
        )
    ]
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--6a4c9c0a-24b8-4e8e-9a6c-5f1c1b7e0d32",
        "created": "2026-03-01T00:00:00.000Z",
        "modified": "2026-03-01T00:00:00.000Z",
        "name": "Kelp",
        "description": "A loader seen on patrol craft.",
        "malware_types": ["remote-access-trojan"],
        "is_family": True,
        "extensions": {EXTENSION_ID: label()},
    }
    add(taxii_node, [first, malware])
    middle = dt.datetime.now(dt.UTC)
    add(taxii_node, versions)
    intel = collection(taxii_node, "jp")
    everything = intel.get_objects()
    assert ids(everything) == [first["id"], malware["id"], versions[0]["id"]]  # last versions
    assert everything["more"] is False
    assert [o["modified"] for o in everything["objects"]][-1] == "2026-03-03T00:00:00.000Z"
    assert ids(intel.get_objects(type="malware")) == [malware["id"]]
    assert ids(intel.get_objects(type=["malware", "indicator"])) == ids(everything)
    assert ids(intel.get_objects(type="identity")) == []
    assert ids(intel.get_objects(id=first["id"])) == [first["id"]]
    assert ids(intel.get_objects(id=[first["id"], malware["id"]])) == [first["id"], malware["id"]]
    assert ids(intel.get_objects(added_after=middle)) == [versions[0]["id"]]
    assert ids(intel.get_objects(added_after=dt.datetime.now(dt.UTC))) == []
    by_version = {
        "first": ["2026-03-01T00:00:00.000Z"],
        "last": ["2026-03-03T00:00:00.000Z"],
        "all": [
            "2026-03-01T00:00:00.000Z",
            "2026-03-02T00:00:00.000Z",
            "2026-03-03T00:00:00.000Z",
        ],
        "first,last": ["2026-03-01T00:00:00.000Z", "2026-03-03T00:00:00.000Z"],
        "2026-03-02T00:00:00.000Z": ["2026-03-02T00:00:00.000Z"],
        "2026-03-02T00:00:00.000Z,last": [
            "2026-03-02T00:00:00.000Z",
            "2026-03-03T00:00:00.000Z",
        ],
    }
    for version, expected in by_version.items():
        found = intel.get_objects(id=versions[0]["id"], version=version.split(","))
        assert [o["modified"] for o in found["objects"]] == expected, version
    assert len(intel.get_objects(version="all")["objects"]) == 5
    assert ids(intel.get_objects(spec_version="2.1")) == ids(everything)
    assert ids(intel.get_objects(spec_version="2.0")) == []
    assert ids(intel.get_objects(type="indicator", added_after=middle, version="first")) == [
        versions[0]["id"]
    ]


def test_paging_with_as_pages_and_date_headers(taxii_node: RunningNode) -> None:
    objects = [indicator(n) for n in range(23)]
    add(taxii_node, objects[:10])
    add(taxii_node, objects[10:])
    intel = collection(taxii_node, "jp")
    pages = list(as_pages(intel.get_objects, per_request=5))
    assert [len(p["objects"]) for p in pages] == [5, 5, 5, 5, 3]
    assert [p["more"] for p in pages] == [True] * 4 + [False]
    assert [i for p in pages for i in ids(p)] == [o["id"] for o in objects]
    manifests = list(as_pages(intel.get_manifest, per_request=10, type="indicator"))
    assert [len(p["objects"]) for p in manifests] == [10, 10, 3]
    with raw(taxii_node, "jp") as client:
        first = client.get(OBJECTS, params={"limit": 5})
        assert first.headers["content-type"] == TAXII
        body = first.json()
        added = [m["date_added"] for m in intel.get_manifest()["objects"]]
        assert first.headers["X-TAXII-Date-Added-First"] == added[0]
        assert first.headers["X-TAXII-Date-Added-Last"] == added[4]
        assert sorted(added) == added
        assert len(set(added)) == len(added)
        # added_after the last date of a page continues exactly after it
        after = client.get(
            OBJECTS, params={"limit": 5, "added_after": first.headers["X-TAXII-Date-Added-Last"]}
        ).json()
        assert ids(after) == [o["id"] for o in objects[5:10]]
        following = client.get(OBJECTS, params={"limit": 5, "next": body["next"]}).json()
        assert ids(following) == ids(after)
        empty = client.get(OBJECTS, params={"type": "nothing", "match[type]": "tool"})
        assert empty.json() == {"more": False}
        assert "X-TAXII-Date-Added-First" not in empty.headers


def test_manifest_versions_get_and_delete(taxii_node: RunningNode) -> None:
    stix_id = "indicator--5a3a7c1b-4b7f-4e1e-8d36-0fcb3f1f4a77"
    versions = [
        indicator(3, stix_id=stix_id, modified=f"2026-03-0{d}T00:00:00.000Z") for d in (1, 2, 3)
    ]
    other = indicator(4)
    add(taxii_node, [*versions, other])
    intel = collection(taxii_node, "jp")
    manifest = intel.get_manifest(id=stix_id, version="all")["objects"]
    assert [m["version"] for m in manifest] == [v["modified"] for v in versions]
    for entry in manifest:
        assert set(entry) == {"id", "date_added", "version", "media_type"}
        assert entry["media_type"] == "application/stix+json;version=2.1"
    assert intel.object_versions(stix_id)["versions"] == [v["modified"] for v in versions]
    assert intel.object_versions(stix_id, spec_version="2.0") == {"more": False}
    paged = list(as_pages(intel.get_object, per_request=1, obj_id=stix_id, version="all"))
    assert [p["objects"][0]["modified"] for p in paged] == [v["modified"] for v in versions]
    assert ids(intel.get_object(stix_id)) == [stix_id]
    assert intel.get_object(stix_id)["objects"][0]["modified"] == versions[-1]["modified"]
    intel.delete_object(stix_id, version=versions[0]["modified"])
    assert intel.object_versions(stix_id)["versions"] == [v["modified"] for v in versions[1:]]
    intel.delete_object(stix_id)  # every version
    with raw(taxii_node, "jp") as client:
        gone = client.get(f"{OBJECTS}{stix_id}/")
        assert gone.status_code == 404
        assert gone.headers["content-type"] == TAXII
        assert gone.json()["http_status"] == "404"
        assert client.get(f"{OBJECTS}{stix_id}/versions/").status_code == 404
        assert client.delete(f"{OBJECTS}{stix_id}/").status_code == 404
    assert ids(intel.get_objects()) == [other["id"]]
    with raw(taxii_node, "ca-s") as client:  # only the node's own nation deletes
        assert client.delete(f"{OBJECTS}{other['id']}/").status_code == 403
    assert ids(intel.get_objects()) == [other["id"]]
    node = taxii_node.open()
    try:  # the items themselves stay, with their audit trail
        with node.engine.connect() as connection:
            kinds = list(connection.execute(select(audit_entries.c.kind)).scalars())
            stored = connection.execute(select(func.count()).select_from(items)).scalar()
    finally:
        node.close()
    assert kinds.count("taxii.deleted") == 3
    assert stored == 4


def test_each_nation_sees_what_the_agreements_release(taxii_node: RunningNode) -> None:
    for_canada = indicator(1)  # GOKUHI, releasable to CAN
    for_fvey = indicator(2, extension=label("HI", ("FVEY",)))
    top = indicator(3, extension=label("KIMITSU", ("CAN", "USA")))
    national = indicator(4, extension=label("HI", ()))
    needs = indicator(5, extension=label("HI", ("USA",), ("submarines",)))
    add(taxii_node, [for_canada, for_fvey, top, national, needs])
    seen = {
        user: ids(collection(taxii_node, user).get_objects())
        for user in ("jp", "ca-s", "ca-c", "us-ts")
    }
    assert seen["jp"] == [for_canada["id"], for_fvey["id"], top["id"], national["id"]]
    assert seen["ca-s"] == [for_canada["id"], for_fvey["id"]]
    assert seen["ca-c"] == [for_fvey["id"]]
    assert seen["us-ts"] == [for_fvey["id"], top["id"]]
    intel = collection(taxii_node, "ca-c")
    assert [m["id"] for m in intel.get_manifest()["objects"]] == [for_fvey["id"]]
    with raw(taxii_node, "ca-c") as client:
        hidden = client.get(f"{OBJECTS}{for_canada['id']}/")
        assert hidden.status_code == 404  # not "forbidden": it does not exist for them
        assert client.get(f"{OBJECTS}{for_canada['id']}/versions/").status_code == 404


def test_every_object_emitted_passes_the_stix2_validator(taxii_node: RunningNode) -> None:
    objects = [
        indicator(1),
        indicator(2, extension=label("HI", ())),
        indicator(3, extension=label("TOKUTEI", ("FVEY", "NATO"), ("maritime",))),
        {
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
            "value": "198.51.100.3",
            "extensions": {EXTENSION_ID: label("HI", ("CAN",))},
        },
    ]
    status = add(taxii_node, objects)
    assert status.success_count == 4, status.failures
    for user in ("jp", "ca-s", "us-ts"):
        intel = collection(taxii_node, user)
        emitted = intel.get_objects(version="all").get("objects", [])
        emitted += [o for e in emitted for o in intel.get_object(e["id"])["objects"]]
        assert emitted or user == "us-ts"
        for obj in emitted:
            assert stix_problems(obj) == [], obj
            assert obj["extensions"][EXTENSION_ID]["originator"] == "JPN"
    with raw(taxii_node, None) as client:
        definition = client.get("/taxii2/extension-definition")
        assert definition.headers["content-type"] == "application/stix+json;version=2.1"
        assert definition.json()["id"] == EXTENSION_ID
        assert stix_problems(definition.json()) == []
        bundle = client.get("/taxii2/extension-definition", params={"bundle": "true"}).json()
        for obj in bundle["objects"]:
            assert stix_problems(obj) == []
