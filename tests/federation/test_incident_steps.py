"""Incidents as a workflow: CAN's officer acknowledges, investigates and closes an incident
reported on CAN's node about JPN's item; each step, with its note, reaches JPN's node.

Three real nodes in this process (``tests.federation.mesh``): Japan's on SQLite or
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gsoia.errors import RequestError
from gsoia.federation.packages import Kind
from gsoia.node.errors import Conflict, Forbidden
from tests.federation.mesh import Mesh, mesh_of
from tests.node.conftest import Database, database

__all__ = ["database"]


@pytest.fixture
def mesh(tmp_path: Path, database: Database) -> Iterator[Mesh]:
    with mesh_of(tmp_path, database.url) as built:
        yield built


def reported(mesh: Mesh) -> tuple[str, str]:
    """A JPN item released to CAN, its compromise reported on CAN's node: (item, incident)."""
    item = mesh.item()
    mesh.nodes["JPN"].exchange.release(mesh.analysts["JPN"], item, "CAN")
    incident = mesh.nodes["CAN"].exchange.report_incident(
        mesh.analysts["CAN"], item, "compromise", "laptop lost"
    )
    mesh.settle()  # the notice to JPN
    return item, str(incident["id"])


def one(mesh: Mesh, nation: str, incident: str) -> dict[str, Any]:
    [found] = [
        i for i in mesh.nodes[nation].incidents(mesh.officers[nation]) if i["id"] == incident
    ]
    return found


def test_each_step_is_taken_in_order_and_told_to_the_originator(mesh: Mesh) -> None:
    _, incident = reported(mesh)
    can = mesh.nodes["CAN"].exchange
    officer = mesh.officers["CAN"]
    assert one(mesh, "JPN", incident)["state"] == "reported"
    for state, note in [("acknowledged", "seen"), ("investigating", "police told"),
                        ("closed", "found, unopened")]:  # fmt: skip
        stepped = can.step_incident(officer, incident, state, note)
        assert stepped["told"] == {"nation": "JPN", "state": "delivered"}
    at_jpn = one(mesh, "JPN", incident)
    assert (at_jpn["state"], at_jpn["open"]) == ("closed", False)
    assert [(s["state"], s["by"], s["note"]) for s in at_jpn["steps"]] == [
        ("acknowledged", "CAN/can-officer", "seen"),
        ("investigating", "CAN/can-officer", "police told"),
        ("closed", "CAN/can-officer", "found, unopened"),
    ]
    assert at_jpn["item_title"] == "Patrol report"  # the officer may read it
    assert at_jpn["item_marking"]["text"] == "JPN 極秘"
    at_can = one(mesh, "CAN", incident)
    assert [s["state"] for s in at_can["steps"]] == ["acknowledged", "investigating", "closed"]
    assert [e["state"] for e in mesh.audited("JPN", "incident.step_received")] == [
        "acknowledged",
        "investigating",
        "closed",
    ]
    with pytest.raises(Conflict):  # closed: nothing further
        can.step_incident(officer, incident, "investigating", "again")


def test_a_step_back_a_foreign_incident_and_an_analyst_are_refused(mesh: Mesh) -> None:
    _, incident = reported(mesh)
    can = mesh.nodes["CAN"].exchange
    can.step_incident(mesh.officers["CAN"], incident, "investigating", "started")
    with pytest.raises(Conflict):
        can.step_incident(mesh.officers["CAN"], incident, "acknowledged", "late")
    with pytest.raises(Conflict, match="handled by CAN"):
        mesh.nodes["JPN"].exchange.step_incident(mesh.officers["JPN"], incident, "closed", "x")
    with pytest.raises(Forbidden):
        can.step_incident(mesh.analysts["CAN"], incident, "closed", "x")
    with pytest.raises(RequestError):
        can.step_incident(mesh.officers["CAN"], incident, "closed", "  ")
    with pytest.raises(RequestError):
        can.step_incident(mesh.officers["CAN"], incident, "reopened", "x")
    assert one(mesh, "CAN", incident)["state"] == "investigating"


def test_a_step_from_a_node_that_did_not_report_the_incident_is_refused(mesh: Mesh) -> None:
    item, incident = reported(mesh)
    usa = mesh.nodes["USA"]
    body = {
        "incident": incident,
        "item": item,
        "state": "closed",
        "note": "nothing happened",
        "by": "usa-officer",
        "at": usa.audit.now(),
    }
    assert mesh.send("USA", Kind.INCIDENT_STEP, "JPN", body, item) == "failed"
    assert one(mesh, "JPN", incident)["state"] == "reported"


def test_incident_steps_over_rest(mesh: Mesh) -> None:
    _, incident = reported(mesh)
    with mesh.client("CAN", "can-officer") as client:
        stepped = client.post(
            f"/api/v1/incidents/{incident}/steps", json={"state": "acknowledged", "note": "ok"}
        )
        assert stepped.status_code == 200, stepped.text
        listed = client.get("/api/v1/incidents").json()
        assert [(i["id"], i["state"], i["open"]) for i in listed] == [
            (incident, "acknowledged", True)
        ]
        bad = client.post(f"/api/v1/incidents/{incident}/steps", json={"state": "closed"})
        assert bad.status_code == 422  # no note
        missing = client.post(
            "/api/v1/incidents/no-such/steps", json={"state": "closed", "note": "x"}
        )
        assert missing.status_code == 404
