"""A security officer's pages in a real browser: incidents with their deadlines (overdue ones
highlighted) and the audit log with its verification and signed tree head; analysts are
refused every officer page (consent requests and the outbox are in test_exchange)."""

from __future__ import annotations

import datetime as dt
import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import insert

from gsoia.store.schema import incidents
from tests.node.conftest import RunningNode
from tests.web.conftest import Opener, create_by_api, shot, unique, visit


def _incident(site: RunningNode, item: str, notify_in: dt.timedelta, kind: str) -> str:
    """An incident not yet told to its originator, as federation will record them."""
    now = dt.datetime.now(dt.UTC)
    incident = str(uuid.uuid4())
    node = site.open()
    try:
        with node.engine.begin() as connection:
            connection.execute(
                insert(incidents).values(
                    id=incident,
                    item_id=item,
                    kind=kind,
                    description=f"{kind}: seen by the custodian",
                    reported_by="can-analyst",
                    reported_at=(now + notify_in - dt.timedelta(hours=24)).isoformat(),
                    notify_by=(now + notify_in).isoformat(),
                    notified_at=None,
                )
            )
    finally:
        node.close()
    return incident


def test_the_officer_sees_incidents_with_time_left_and_overdue_ones_highlighted(
    open_as: Opener, site: RunningNode
) -> None:
    label = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}
    item = create_by_api(site, "jpn-analyst", unique("Lost on a train"), label)
    analyst = open_as("jpn-analyst")
    analyst.goto(f"/web/items/{item}")
    analyst.get_by_label("What happened").select_option("possible_loss")
    analyst.get_by_label("Description").fill("Left on the 08:12 Shinkansen 新幹線")
    analyst.get_by_role("button", name="Report the incident").click()
    expect(analyst.locator("#incident-done")).to_contain_text("reported")
    reported = analyst.locator("#incident-done").inner_text().split()[1]
    overdue = _incident(site, item, -dt.timedelta(hours=3, minutes=5, seconds=20), "compromise")
    pending = _incident(site, item, dt.timedelta(hours=5, minutes=30, seconds=40), "loss")

    officer = open_as("jpn-officer")
    officer.get_by_role("link", name="Incidents").click()
    expect(officer).to_have_title("Incidents · gsoia JPN")
    late = officer.locator(f'tr[data-incident="{overdue}"]')
    expect(late).to_have_attribute("data-state", "overdue")
    expect(late).to_contain_text("OVERDUE 3 h 5 min late")
    expect(late).to_have_css("background-color", "rgb(255, 244, 194)")
    expect(officer.locator("tbody tr").first).to_have_attribute("data-state", "overdue")
    open_ = officer.locator(f'tr[data-incident="{pending}"]')
    expect(open_).to_have_attribute("data-state", "open")
    expect(open_).to_contain_text("5 h 30 min left")
    told = officer.locator(f'tr[data-incident="{reported}"]')
    expect(told).to_have_attribute("data-state", "told")  # this node is the originator
    expect(told).to_contain_text("新幹線")
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
