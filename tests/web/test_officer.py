"""A security officer's pages in a real browser: incidents with their deadlines (overdue ones
highlighted), reported through the nodes' own paths (REST and federation), and the audit
log with its verification and signed tree head; analysts are refused every officer page
(consent requests and the outbox are in test_exchange)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from gsoia.federation.packages import Kind
from gsoia.node.service import Node
from gsoia.node.users import Role
from tests.federation.conftest import serving
from tests.federation.test_faults import wait_for
from tests.node.conftest import Database, RunningNode, make_node
from tests.web.conftest import NodeOpener, Opener, create_by_api, shot, unique, visit

HI_FOR = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}


@pytest.fixture
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningNode]]:
    """Japan's and Canada's nodes served on threads of this process, each pinning the
    other."""
    tmp_path = tmp_path_factory.mktemp("officer-pair")
    sqlite = Database("sqlite", None)
    nodes = {nation: make_node(tmp_path, sqlite, nation) for nation in ("JPN", "CAN")}
    nodes["JPN"].add_user("jpn-analyst", "JPN", "KIMITSU")
    nodes["JPN"].add_user("jpn-officer", "JPN", "KIMITSU", role=Role.OFFICER)
    nodes["CAN"].add_user("can-analyst", "CAN", "TS")
    for node in nodes.values():
        node.in_process = True
    with serving(nodes):
        yield nodes


def _call(node: RunningNode, user_id: str, method: str, path: str, **json: Any) -> Any:
    with node.client(user_id) as client:
        response = client.request(method, path, json=json or None)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _released(sender: RunningNode, analyst: str, item: str, to: RunningNode, reader: str) -> None:
    """``item`` released over REST, and taken by ``to``'s node."""
    _call(sender, analyst, "POST", f"/api/v1/items/{item}/releases", to=to.nation)
    with to.client(reader) as client:

        def taken() -> bool:
            return client.get(f"/api/v1/items/{item}").status_code == 200

        wait_for(taken, 60, f"{item} at {to.nation}")


def _reported_earlier(jpn: RunningNode, item: str, ago: dt.timedelta, kind: str) -> str:
    """An incident jpn-analyst reported ``ago`` through the node's use case (the node on a
    clock set back by ``ago``): rows and audit entry as the node writes them, and its
    notice to the item's originator in the outbox."""
    then = dt.datetime.now(dt.UTC) - ago
    node = Node.open(jpn.data, database=jpn.database.url, clock=lambda: then)
    try:
        analyst = node.authenticate(jpn.tokens["jpn-analyst"])
        description = f"{kind}: seen by the custodian"
        return str(node.exchange.report_incident(analyst, item, kind, description)["id"])
    finally:
        node.close()


def test_the_officer_sees_incidents_with_time_left_and_overdue_ones_highlighted(
    pair: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    """Japan's node holds a Canadian item and Canada's node one of Japan's: an incident
    Canada's analyst reports over REST is told to Japan's node (federation) and handled by
    Canada's; those Japan's analyst reports of Canada's item, with Canada's node down, wait
    to be told, one of them overdue; one about Japan's own item is told at once."""
    jpn, can = pair["JPN"], pair["CAN"]
    mine = create_by_api(jpn, "jpn-analyst", unique("Lost on a train"), HI_FOR)
    _released(jpn, "jpn-analyst", mine, can, "can-analyst")
    label = {"originator": "CAN", "classification": "S", "releasable_to": ["JPN"]}
    theirs = create_by_api(can, "can-analyst", unique("Canadian patrol"), label)
    _released(can, "can-analyst", theirs, jpn, "jpn-analyst")
    told_here = _call(
        can, "can-analyst", "POST", "/api/v1/incidents",
        item=mine, kind="possible_loss", description="left in a taxi in Ottawa",
    )["id"]  # fmt: skip

    def received() -> list[dict[str, Any]]:
        shown = _call(jpn, "jpn-officer", "GET", "/api/v1/incidents")
        return [i for i in shown if i["id"] == told_here]

    wait_for(lambda: received() != [], 60, "CAN's incident at JPN's node")
    [from_can] = received()
    assert (from_can["reported_from"], from_can["reported_by"]) == ("CAN", "CAN/can-analyst")
    can.stop()  # what Japan's node has to tell Canada's now waits in its outbox

    analyst = open_on(jpn, "jpn-analyst")
    analyst.goto(f"/web/items/{mine}")
    analyst.get_by_label("What happened").select_option("possible_loss")
    analyst.get_by_label("Description").fill("Left on the 08:12 Shinkansen 新幹線")
    analyst.get_by_role("button", name="Report the incident").click()
    expect(analyst.locator("#incident-done")).to_contain_text("reported")
    reported = analyst.locator("#incident-done").inner_text().split()[1]
    overdue = _reported_earlier(
        jpn, theirs, dt.timedelta(hours=27, minutes=5, seconds=20), "compromise"
    )
    pending = _reported_earlier(jpn, theirs, dt.timedelta(hours=18, minutes=29, seconds=20), "loss")
    notices = [  # rows as the node writes them: their notices wait to be told
        (row["peer"], row["state"])
        for row in _call(jpn, "jpn-officer", "GET", "/api/v1/outbox")
        if (row["item_id"], row["kind"]) == (theirs, Kind.INCIDENT.value)
    ]
    assert notices == [("CAN", "pending")] * 2

    officer = open_on(jpn, "jpn-officer")
    officer.get_by_role("link", name="Incidents").click()
    expect(officer).to_have_title("Incidents · gsoia JPN")
    late = officer.locator(f'tr[data-incident="{overdue}"]')
    expect(late).to_have_attribute("data-state", "overdue")
    expect(late).to_contain_text("OVERDUE 3 h 5 min late")
    expect(late).to_have_css("background-color", "rgb(255, 244, 194)")
    expect(late.locator(".flag")).to_have_css("color", "rgb(179, 0, 27)")  # red: overdue
    expect(officer.locator("tbody tr").first).to_have_attribute("data-state", "overdue")
    open_ = officer.locator(f'tr[data-incident="{pending}"]')
    expect(open_).to_have_attribute("data-state", "open")
    expect(open_).to_contain_text("5 h 30 min left")
    told = officer.locator(f'tr[data-incident="{reported}"]')
    expect(told).to_have_attribute("data-state", "told")  # this node is the originator
    expect(told).to_contain_text("新幹線")
    handled = officer.locator(f'tr[data-incident="{told_here}"]')
    expect(handled).to_have_attribute("data-state", "told")  # told by Canada's node
    expect(handled).to_contain_text("handled by CAN")
    expect(handled.locator("form")).to_have_count(0)  # Canada's officers take its steps
    expect(officer.locator(".overdue-count")).to_be_visible()
    shot(officer, "incidents")


def _item_on_screen(open_as: Opener, site: RunningNode, title: str) -> tuple[str, Page]:
    """A HI item of jpn-analyst's releasable to CAN, open on the analyst's item page."""
    label = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}
    item = create_by_api(site, "jpn-analyst", title, label)
    analyst = open_as("jpn-analyst")
    assert visit(analyst, f"/web/items/{item}") == 200
    return item, analyst


def test_the_officer_takes_an_incident_through_its_steps_to_closed(
    open_as: Opener, site: RunningNode
) -> None:
    title = unique("Compromised 漏洩")
    _, analyst = _item_on_screen(open_as, site, title)
    analyst.get_by_label("Description").fill("USB stick missing")
    analyst.get_by_role("button", name="Report the incident").click()
    incident = analyst.locator("#incident-done").inner_text().split()[1]

    officer = open_as("jpn-officer")
    errors: list[str] = []
    officer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    officer.goto("/web/incidents")
    row = officer.locator(f'tr[data-incident="{incident}"]')
    expect(row).to_have_attribute("data-step", "reported")
    expect(row.locator(".item-named")).to_have_text(title)  # named: the officer may read it
    expect(row.locator(".marking")).to_have_text("JPN 秘")
    opened = int(officer.locator(".open-count").inner_text().split()[0])
    assert opened >= 1
    for state, note in [("acknowledged", "seen at 09:00"), ("investigating", "asked IT"),
                        ("closed", "found in the safe")]:  # fmt: skip
        row = officer.locator(f'tr[data-incident="{incident}"]')
        row.get_by_label("Next step").select_option(state)
        row.get_by_label("Note (told to the originator)").fill(note)
        row.get_by_role("button", name="Record the step").click()
        expect(officer.locator("#stepped-notice")).to_have_attribute("data-state", state)
        row = officer.locator(f'tr[data-incident="{incident}"]')
        expect(row).to_have_attribute("data-step", state)
        expect(row.locator("ol.steps li").last).to_contain_text(note)
    expect(row.locator("form")).to_have_count(0)  # closed: no step left
    expect(officer.locator(".open-count")).to_have_text(f"{opened - 1} open")
    shot(officer, "incident-closed")
    assert errors == []


def test_the_officer_sees_the_audit_log_verified_with_its_signed_head(
    open_as: Opener, site: RunningNode
) -> None:
    officer = open_as("jpn-officer")
    officer.get_by_role("link", name="Audit log").click()
    expect(officer.locator(".verify")).to_have_attribute("data-verified", "true")
    expect(officer.locator(".verify")).to_contain_text("Verified.")
    with site.client("jpn-officer") as client:
        head = client.get("/api/v1/audit", params={"limit": 1}).json()["head"]
    size = int(officer.locator("dl.head dd").first.inner_text().split()[0])
    assert size >= head["size"] - 2  # the API call and this page add entries too
    expect(officer.locator("dl.head")).to_contain_text("Root (SHA-256, RFC 9162)")
    expect(officer.locator("table.entries tbody tr").first).to_be_visible()
    shot(officer, "audit")
    if officer.get_by_role("link", name="Older entries").count():
        officer.get_by_role("link", name="Older entries").click()
        expect(officer.locator("table.entries tbody tr").first).to_be_visible()


def test_officer_pages_are_refused_to_analysts_with_a_reason(open_as: Opener) -> None:
    page = open_as("jpn-analyst")
    for link in ("Incidents", "Consent requests", "Outbox", "Audit log"):
        expect(page.get_by_role("link", name=link)).to_have_count(0)
    for path, why in (
        ("/web/incidents", "incident.view is for officer and admin accounts, not analyst"),
        ("/web/audit", "audit.view is for officer and admin accounts"),
        ("/web/consent-requests", "consent.view is for officer and admin accounts"),
        ("/web/outbox", "outbox.view is for officer and admin accounts"),
    ):
        assert visit(page, path) == 403
        expect(page.locator("h1")).to_have_text("Not permitted")
        expect(page.locator(".alert")).to_contain_text(why)
    shot(page, "officer-only")


def test_the_officer_reads_the_audit_log_as_sentences_and_narrows_it(
    open_as: Opener, site: RunningNode
) -> None:
    title = unique("Harbour survey 港湾")
    item, _ = _item_on_screen(open_as, site, title)

    officer = open_as("jpn-officer")
    errors: list[str] = []
    officer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    officer.get_by_role("link", name="Audit log").click()
    officer.get_by_label("Item id").fill(item)
    officer.get_by_role("button", name="Show").click()
    rows = officer.locator("table.entries tbody tr")
    created = officer.locator('tr[data-kind="item.created"]')
    expect(created).to_have_count(1)
    expect(created.locator(".sentence")).to_contain_text(f"jpn-analyst created item {title}")
    expect(officer.locator('tr[data-kind="item.read"] .sentence').first).to_contain_text(
        f"jpn-analyst read item {title}"
    )
    seqs = [int(s) for s in rows.evaluate_all("rs => rs.map(r => r.dataset.seq)")]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    shot(officer, "audit-item")

    officer.get_by_label("Kind of entry").fill("item.read")
    officer.get_by_role("button", name="Show").click()
    expect(officer.locator('tr:not([data-kind="item.read"])')).to_have_count(1)  # the header
    officer.get_by_label("From day").fill("2999-01-01")
    officer.get_by_role("button", name="Show").click()
    expect(officer.locator(".empty")).to_have_text("No entry matches.")
    officer.get_by_role("link", name="All entries").click()
    officer.locator("tr .actor", has_text="jpn-analyst").first.click()
    expect(officer.locator("tbody .actor")).not_to_have_count(0)
    assert set(officer.locator("tbody .actor").all_inner_texts()) == {"jpn-analyst"}
    officer.locator(f'tbody a.item[href="/web/items/{item}"]').first.click()
    expect(officer.locator("h1")).to_contain_text(title)
    assert errors == []
