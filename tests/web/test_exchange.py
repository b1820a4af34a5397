"""Release to a partner, consent requests and the outbox, in a real browser against three
peered ``gsoia serve`` processes (JPN, CAN, USA) and a fourth peer (GBR) that is pinned
on Japan's node but never runs: what is sent to it waits in the outbox.

The nodes are shared by the tests of this module; each test works on items of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from gsoia.federation.peers import Peer
from gsoia.node.users import Role
from tests.federation.conftest import serving
from tests.federation.test_faults import wait_for
from tests.node.conftest import Database, RunningNode, free_port, make_node
from tests.web.conftest import WIDEST, NodeOpener, serious_violations, session_client, shot, unique

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
POST_FORM = """([action, csrf, to]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = action;
  for (const [name, value] of [['csrf', csrf], ['to', to]]) {
    const input = document.createElement('input');
    input.type = 'hidden'; input.name = name; input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""
MARITIME = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "need_to_know": ["maritime"],
}
USERS: dict[str, list[tuple[str, str, list[str], Role]]] = {
    "JPN": [
        ("jpn-analyst", "KIMITSU", ["maritime"], Role.ANALYST),
        ("jpn-officer", "KIMITSU", ["maritime"], Role.OFFICER),
    ],
    "CAN": [
        ("can-analyst", "S", ["maritime"], Role.ANALYST),
        ("can-officer", "TS", [], Role.OFFICER),
    ],
    "USA": [("usa-analyst", "S", ["maritime"], Role.ANALYST)],
}


def pin_stopped(node: RunningNode, peer: RunningNode) -> None:
    """Pin ``peer``'s real keys on ``node`` at an address where nothing listens."""
    opened = peer.open()
    try:
        keys = opened.public
    finally:
        opened.close()
    opened = node.open()
    try:
        opened.exchange.add_peer(Peer(peer.nation, f"http://127.0.0.1:{free_port()}", keys))
    finally:
        opened.close()


@pytest.fixture(scope="module")
def peered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningNode]]:
    tmp_path = tmp_path_factory.mktemp("web-peered")
    sqlite = Database("sqlite", None)
    running = {n: make_node(tmp_path, sqlite, n) for n in USERS}
    stopped = make_node(tmp_path, sqlite, "GBR")
    for nation, users in USERS.items():
        for user_id, clearance, topics, role in users:
            running[nation].add_user(user_id, nation, clearance, topics, role=role)
    with serving(running):
        pin_stopped(running["JPN"], stopped)
        yield running | {"GBR": stopped}


def create(jpn: RunningNode, title: str, **label: Any) -> str:
    with jpn.client("jpn-analyst") as client:
        response = client.post(
            "/api/v1/items",
            json={"label": MARITIME | label, "title": title, "content": "東シナ海の哨戒"},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def release_by_api(node: RunningNode, user_id: str, item: str, to: str) -> dict[str, Any]:
    with node.client(user_id) as client:
        response = client.post(f"/api/v1/items/{item}/releases", json={"to": to})
    assert response.status_code == 201, response.text
    return dict(response.json())


def outbox_of(node: RunningNode, officer: str, item: str) -> list[dict[str, Any]]:
    with node.client(officer) as client:
        response = client.get("/api/v1/outbox")
    assert response.status_code == 200, response.text
    return [row for row in response.json() if row["item_id"] == item]


def audit_log(node: RunningNode) -> list[dict[str, Any]]:
    """Every entry of the node's audit log, oldest first, as its officer reads them."""
    entries: list[dict[str, Any]] = []
    with node.client(f"{node.nation.lower()}-officer") as client:
        while True:
            after = entries[-1]["seq"] if entries else -1
            params = {"after": after, "limit": 1000}
            page = client.get("/api/v1/audit", params=params).json()["entries"]
            entries += page
            if len(page) < 1000:
                return entries


def requests_for(jpn: RunningNode, item: str) -> list[dict[str, Any]]:
    with jpn.client("jpn-officer") as client:
        response = client.get("/api/v1/consent-requests")
    assert response.status_code == 200, response.text
    return [r for r in response.json() if r["item_id"] == item]


def preview(page: Page, item: str, to: str) -> None:
    """From the item's page: choose ``to`` and ask for the decision (nothing is sent)."""
    page.goto(f"/web/items/{item}")
    page.get_by_label("Partner nation").select_option(to)
    page.get_by_role("button", name="Preview the release").click()
    page.wait_for_url(f"**/web/items/{item}/release?to={to}")


def page_csrf(page: Page) -> str:
    match = CSRF.search(page.content())
    assert match
    return match.group(1)


def test_an_analyst_previews_a_release_sends_it_and_it_arrives(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    jpn, can = peered["JPN"], peered["CAN"]
    title = unique("Patrol off Senkaku 尖閣")
    item = create(jpn, title, releasable_to=["CAN", "USA"])
    page = open_on(jpn, "jpn-analyst", javascript=False)
    preview(page, item, "CAN")
    expect(page).to_have_title(f"Release to CAN?: {title} · gsoia JPN")
    decision = page.locator("#decision")
    expect(decision).to_have_attribute("data-allow", "true")
    expect(decision.locator(".marking")).to_have_text("CAN SECRET // JPN 極秘 // JPN-CAN")
    expect(decision.locator(".explanation")).not_to_be_empty()
    assert outbox_of(jpn, "jpn-officer", item) == []  # the preview sent nothing
    shot(page, "release-preview")

    page.get_by_role("button", name="Release to CAN", exact=True).click()
    sent = page.locator("#sent")
    expect(sent).to_have_attribute("data-state", "delivered")
    expect(sent).to_contain_text("CAN SECRET // JPN 極秘 // JPN-CAN")
    package = page.locator("#sent code.package").inner_text()
    shot(page, "release-sent")

    with can.client("can-analyst") as client:
        read = client.get(f"/api/v1/items/{item}")
    assert read.status_code == 200, read.text
    assert read.json()["title"] == title
    assert read.json()["marking"]["text"] == "CAN SECRET // JPN 極秘 // JPN-CAN"

    officer = open_on(jpn, "jpn-officer")
    officer.get_by_role("link", name="Outbox").click()
    expect(officer).to_have_title("Outbox · gsoia JPN")
    row = officer.locator(f'table.done tr[data-package="{package}"]')
    expect(row).to_have_attribute("data-state", "delivered")
    expect(row).to_contain_text("CAN")
    expect(row.locator(".attempts")).to_have_text("1")


def test_a_refused_release_shows_the_reason_explanation_and_rule(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    jpn = peered["JPN"]
    item = create(jpn, unique("For Canada only"), releasable_to=["CAN"])
    page = open_on(jpn, "jpn-analyst")
    preview(page, item, "USA")
    decision = page.locator("#decision")
    expect(decision).to_have_attribute("data-allow", "false")
    expect(decision.locator(".reason")).to_have_text("NOT_RELEASABLE")
    expect(decision).to_contain_text("Rule")
    expect(decision).to_contain_text("Releasability")
    expect(decision.locator(".explanation")).not_to_be_empty()
    expect(page.get_by_role("button", name="Release to USA", exact=True)).to_have_count(0)
    expect(page.locator("#ask")).to_have_count(0)  # Japan's own item: no one to ask
    shot(page, "release-refused-preview")

    # posted anyway (a stale page, a crafted form): refused with the reasons, nothing sent
    with page.expect_navigation() as navigation:
        page.evaluate(POST_FORM, [f"/web/items/{item}/release", page_csrf(page), "USA"])
    response = navigation.value
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_contain_text("Release to USA refused")
    expect(page.locator(".alert")).to_contain_text("Nothing was sent")
    expect(page.locator(".why-not .reason")).to_have_text("NOT_RELEASABLE")
    expect(page.locator(".why-not")).to_contain_text("Rule ")
    expect(page.locator(".why-not .explanation")).not_to_be_empty()
    shot(page, "release-refused")
    assert outbox_of(jpn, "jpn-officer", item) == []
    entries = audit_log(jpn)
    assert any(e["kind"] == "release.refused" and e["data"]["item"] == item for e in entries), (
        entries
    )


def test_officer_grants_a_consent(peered: dict[str, RunningNode], open_on: NodeOpener) -> None:
    jpn, can, usa = peered["JPN"], peered["CAN"], peered["USA"]
    title = unique("Joint patrol 共同哨戒")
    item = create(jpn, title, releasable_to=["CAN", "USA"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")

    analyst = open_on(can, "can-analyst")
    preview(analyst, item, "USA")
    expect(analyst.locator("#decision")).to_have_attribute("data-allow", "false")
    expect(analyst.locator("#decision .reason")).to_have_text("THIRD_PARTY")
    expect(analyst.get_by_role("button", name="Release to USA", exact=True)).to_have_count(0)
    analyst.get_by_role("button", name="Ask JPN for consent to release to USA").click()
    expect(analyst.locator("#asked")).to_have_attribute("data-state", "delivered")
    shot(analyst, "consent-asked")

    officer = open_on(jpn, "jpn-officer")
    officer.get_by_role("link", name="Consent requests").click()
    expect(officer).to_have_title("Consent requests · gsoia JPN")
    row = officer.locator(f'table.pending tr[data-item="{item}"]')
    expect(row).to_contain_text("CAN/can-analyst")
    expect(row).to_contain_text("USA")
    expect(row.locator(".item-named")).to_have_text(title)  # named: the officer may read it
    expect(row.locator(".marking")).to_have_text("JPN 極秘")
    expect(officer.locator("table.pending tbody tr").first).to_have_attribute("data-item", item)
    shot(officer, "consent-requests")
    expect(row.get_by_role("button", name="Grant")).to_be_hidden()  # one click answers nothing
    row.locator("summary").click()
    row.get_by_label("Note to CAN").fill("for the joint exercise only")
    row.get_by_role("button", name="Grant").click()
    expect(officer.locator("#decided-notice")).to_have_attribute("data-state", "granted")
    expect(officer.locator(f'table.pending tr[data-item="{item}"]')).to_have_count(0)
    decided = officer.locator(f'table.decided tr[data-item="{item}"]')
    expect(decided).to_have_attribute("data-state", "granted")
    expect(decided).to_contain_text("jpn-officer")
    expect(decided).to_contain_text("for the joint exercise only")
    shot(officer, "consent-granted")
    custodian = open_on(can, "can-officer")
    custodian.goto("/web/consent-requests")
    sent = custodian.locator(f'table.sent tr[data-item="{item}"]')
    expect(sent).to_have_attribute("data-state", "granted")
    expect(sent).to_contain_text("for the joint exercise only")
    expect(sent.locator(".item-named")).to_have_count(0)  # no need-to-know: the id alone
    expect(sent).to_contain_text(item[:8])

    analyst.goto(f"/web/items/{item}/release?to=USA")
    expect(analyst.locator("#decision")).to_have_attribute("data-allow", "true")
    analyst.get_by_role("button", name="Release to USA", exact=True).click()
    expect(analyst.locator("#sent")).to_have_attribute("data-state", "delivered")
    with usa.client("usa-analyst") as client:
        read = client.get(f"/api/v1/items/{item}")
    assert read.status_code == 200, read.text
    assert read.json()["marking"]["text"] == "USA SECRET // JPN 極秘 // JPN-USA"
    assert read.json()["custodian"] == "USA"


def test_an_officer_cancels_a_delivery_to_a_stopped_peer(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    jpn = peered["JPN"]
    title = unique("For London")
    item = create(jpn, title, releasable_to=["GBR"], classification="HI")
    analyst = open_on(jpn, "jpn-analyst", javascript=False)
    preview(analyst, item, "GBR")
    analyst.get_by_role("button", name="Release to GBR", exact=True).click()
    expect(analyst.locator("h1")).to_contain_text("Queued for GBR")  # not "released"
    expect(analyst.locator("#sent")).to_have_attribute("data-state", "pending")
    preview(analyst, item, "GBR")
    expect(analyst.locator("#already")).to_contain_text("already waits in the outbox")
    [sent] = outbox_of(jpn, "jpn-officer", item)
    package = sent["package_id"]

    officer = open_on(jpn, "jpn-officer", javascript=False)
    officer.goto("/web/outbox")
    row = officer.locator(f'table.waiting tr[data-package="{package}"]')
    expect(row).to_have_attribute("data-state", re.compile("^(pending|retrying)$"))
    expect(row).to_contain_text("GBR")
    expect(row).to_contain_text("unreachable")
    expect(row.locator(".item-named")).to_have_text(title)
    shot(officer, "outbox")
    row.locator("summary").click()
    row.get_by_label("Why").fill("sent by mistake")
    row.get_by_role("button", name="Cancel the delivery").click()
    expect(officer.locator("#cancelled-notice")).to_contain_text("cancelled")
    expect(officer.locator(f'table.waiting tr[data-package="{package}"]')).to_have_count(0)
    done = officer.locator(f'table.done tr[data-package="{package}"]')
    expect(done).to_have_attribute("data-state", "cancelled")
    shot(officer, "outbox-cancelled")
    assert [r["state"] for r in outbox_of(jpn, "jpn-officer", item)] == ["cancelled"]
    # the analyst who released it is told, on the items page
    analyst.goto("/web/items")
    told = analyst.locator(f'#unsent li[data-package="{package}"]')
    expect(told).to_have_attribute("data-state", "cancelled")
    expect(told).to_contain_text(f"Your release of {title} to GBR")
    expect(told).to_contain_text("cancelled by an officer")


def test_the_preview_warns_that_the_partner_already_holds_the_item(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    jpn = peered["JPN"]
    item = create(jpn, unique("Held twice"), releasable_to=["CAN"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")
    analyst = open_on(jpn, "jpn-analyst", javascript=False)
    preview(analyst, item, "CAN")
    released = r"\(released 20\d\d-\d\d-\d\d \d\d:\d\d by jpn-analyst\)"
    expect(analyst.locator("#already")).to_contain_text(
        re.compile(r"CAN already holds this item " + released)
    )
    preview(analyst, item, "USA")
    expect(analyst.locator("#already")).to_have_count(0)


def test_the_new_forms_refuse_a_post_without_the_csrf_token(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    jpn, can = peered["JPN"], peered["CAN"]
    item = create(jpn, unique("Forged forms"), releasable_to=["CAN", "USA", "GBR"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")
    with can.client("can-analyst") as client:
        asked = client.post(f"/api/v1/items/{item}/consent-requests", json={"to": "USA"})
    assert asked.status_code == 201, asked.text
    request = asked.json()["request"]
    stuck = release_by_api(jpn, "jpn-analyst", item, "GBR")["package"]
    before = outbox_of(jpn, "jpn-officer", item)
    can_before = outbox_of(can, "can-officer", item)

    analyst = open_on(jpn, "jpn-analyst")
    officer = open_on(jpn, "jpn-officer")
    can_analyst = open_on(can, "can-analyst")
    forged = page_csrf(officer)[:-2] + "xx"
    posts = [
        (jpn, analyst, f"/web/items/{item}/release", {"to": "USA"}),
        (jpn, officer, f"/web/consent-requests/{request}", {"decision": "grant"}),
        (jpn, officer, f"/web/outbox/{stuck}/cancel", {}),
        (can, can_analyst, f"/web/items/{item}/consent-requests", {"to": "GBR"}),
        (jpn, officer, f"/web/items/{item}/consents", {"to": "USA"}),
        (jpn, officer, f"/web/items/{item}/consents/USA/withdraw", {}),
    ]
    for node, page, path, data in posts:
        with session_client(node, page) as client:
            for token in (None, "", forged):
                fields = data if token is None else data | {"csrf": token}
                response = client.post(path, data=fields)
                assert response.status_code == 403, (path, response.text)
                assert "CSRF" in response.text, path

    after = outbox_of(jpn, "jpn-officer", item)
    assert [(r["package_id"], r["kind"]) for r in after] == [
        (r["package_id"], r["kind"]) for r in before
    ]
    assert next(r["state"] for r in after if r["package_id"] == stuck) == "pending"
    assert [r["state"] for r in requests_for(jpn, item)] == ["pending"]
    assert outbox_of(can, "can-officer", item) == can_before
    with can.client("can-analyst") as client:
        held = client.get(f"/api/v1/items/{item}")
    assert held.json()["consented_to"] == []


def test_the_item_page_draws_the_chain_of_custody(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    """JPN releases to CAN (received) and GBR (stopped: retrying); CAN passes it on to USA
    with JPN's consent given unasked, and tells JPN that USA received it: the page draws
    and tables all three."""
    jpn, can = peered["JPN"], peered["CAN"]
    item = create(jpn, unique("Custody"), releasable_to=["CAN", "USA", "GBR"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")
    release_by_api(jpn, "jpn-analyst", item, "GBR")
    with jpn.client("jpn-officer") as client:
        given = client.post(f"/api/v1/items/{item}/consents", json={"to": "USA"})
    assert given.status_code == 201, given.text
    # told to CAN, which holds it, and GBR, to which a release of it waits
    assert [n["custodian"] for n in given.json()["notified"]] == ["CAN", "GBR"]
    release_by_api(can, "can-analyst", item, "USA")
    for _ in range(300):  # until CAN's courier has told JPN what came of its release
        with jpn.client("jpn-analyst") as client:
            chain = client.get(f"/api/v1/items/{item}/custody").json()["chain"]
        if [link["state"] for link in chain if link["from"] == "CAN"] == ["received"]:
            break
        time.sleep(0.1)

    page = open_on(jpn, "jpn-analyst")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"/web/items/{item}")
    chain = page.locator("svg.chain")
    for source, to, state in [("JPN", "CAN", "received"), ("JPN", "GBR", "retrying"),
                              ("CAN", "USA", "received")]:  # fmt: skip
        link = chain.locator(f'g.link[data-from="{source}"][data-to="{to}"]')
        expect(link).to_have_attribute("data-state", state)
        expect(link.locator("text")).to_have_text(state)
    expect(chain.locator("desc")).to_contain_text("CAN to USA: received")
    colour = chain.locator('g.link[data-to="CAN"] line').evaluate("e => getComputedStyle(e).stroke")
    assert colour == "rgb(30, 107, 52)"
    assert chain.locator("[style]").count() == 0
    table = page.locator("table.custody")
    expect(table.locator('tr[data-state="retrying"]')).to_contain_text("for GBR")
    expect(table.locator('tr[data-state="received"]').first).to_contain_text("marked CAN SECRET")
    expect(table.locator("tr", has_text="told by CAN")).to_have_attribute("data-state", "received")
    page.locator("details.history summary").click()
    expect(page.locator('table.events tr[data-event="consent given"]')).to_contain_text("USA")
    shot(page, "custody-chain")
    assert errors == []


def test_the_queues_fit_a_phone(peered: dict[str, RunningNode], browser: Any) -> None:
    """On a 390-pixel screen the officer's queues and the item's custody scroll inside
    their own boxes: the page itself is no wider than the screen."""
    jpn = peered["JPN"]
    item = create(jpn, unique("Phone-sized"), releasable_to=["CAN", "GBR"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")
    release_by_api(jpn, "jpn-analyst", item, "GBR")
    context = browser.new_context(base_url=jpn.url, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto("/web/sign-in")
        page.get_by_label("API token").fill(jpn.tokens["jpn-officer"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/web/items")
        for path in ("/web/outbox", "/web/consent-requests", "/web/incidents",
                     f"/web/items/{item}"):  # fmt: skip
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            wide = page.evaluate(WIDEST)
            assert width <= 390, f"{path} is {width} px wide: {wide}"
        shot(page, "custody-phone")
    finally:
        context.close()


def test_the_pages_with_custody_and_queues_filled_are_clean(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    """axe-core over the pages as they are once an item has travelled: its chain of custody
    drawn, a consent request waiting and one sent, an incident told, a delivery cancelled
    and its analyst told (the console is watched by ``open_on``)."""
    jpn, can = peered["JPN"], peered["CAN"]
    item = create(jpn, unique("Travelled"), releasable_to=["CAN", "GBR", "USA"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")
    queued = release_by_api(jpn, "jpn-analyst", item, "GBR")
    with jpn.client("jpn-officer") as client:
        cancelled = client.post(f"/api/v1/outbox/{queued['package']}/cancel", json={})
        assert cancelled.status_code == 200, cancelled.text
    with can.client("can-analyst") as client:
        asked = client.post(f"/api/v1/items/{item}/consent-requests", json={"to": "USA"})
        assert asked.status_code in (200, 201), asked.text
        body = {"item": item, "kind": "possible_loss", "description": "left in a taxi"}
        reported = client.post("/api/v1/incidents", json=body)
        assert reported.status_code in (200, 201), reported.text
    wait_for(lambda: requests_for(jpn, item) != [], 60, "the consent request at JPN")

    def told() -> bool:
        with jpn.client("jpn-officer") as client:
            return any(i["item_id"] == item for i in client.get("/api/v1/incidents").json())

    wait_for(told, 60, "the incident at JPN")
    pages = {
        ("JPN", "jpn-officer"): [
            "/web/outbox",
            "/web/consent-requests",
            "/web/incidents",
            f"/web/items/{item}",
        ],
        ("JPN", "jpn-analyst"): ["/web/items", f"/web/items/{item}"],
        ("CAN", "can-officer"): ["/web/consent-requests"],
        ("CAN", "can-analyst"): [f"/web/items/{item}", f"/web/items/{item}/release?to=USA"],
    }
    for (nation, user), paths in pages.items():
        page = open_on(peered[nation], user)
        for path in paths:
            response = page.goto(path)
            assert response is not None
            assert response.status == 200, path
            assert serious_violations(page) == [], (nation, user, path)
    analyst = open_on(jpn, "jpn-analyst")
    analyst.goto(f"/web/items/{item}")
    expect(analyst.locator("svg.chain")).to_be_visible()


def test_an_officer_gives_and_withdraws_a_consent_on_the_item_page(
    peered: dict[str, RunningNode], open_on: NodeOpener
) -> None:
    """Unasked, from the item's page (opened first, with a note); each told to CAN, which
    holds the item; an analyst sees the consents but no form."""
    jpn, can = peered["JPN"], peered["CAN"]
    item = create(jpn, unique("Consented 同意"), releasable_to=["CAN", "USA"])
    release_by_api(jpn, "jpn-analyst", item, "CAN")

    def consented_at_can() -> list[str]:
        with can.client("can-analyst") as client:
            return list(client.get(f"/api/v1/items/{item}").json()["consented_to"])

    officer = open_on(jpn, "jpn-officer")
    officer.goto(f"/web/items/{item}")
    consents = officer.locator("#consents")
    expect(consents).to_contain_text("No consent given.")
    expect(consents.get_by_role("button", name="Give the consent")).to_be_hidden()
    consents.locator("summary", has_text="Give a consent").click()
    consents.get_by_label("Third party").select_option("USA")
    consents.get_by_label("Conditions").fill("for the exercise only")
    consents.get_by_role("button", name="Give the consent").click()
    expect(officer.locator("#consent-done")).to_have_attribute("data-state", "given")
    row = officer.locator('table.consents tr[data-to="USA"]')
    expect(row).to_have_attribute("data-state", "given")
    expect(row).to_contain_text("for the exercise only")
    expect(row).to_contain_text("jpn-officer")
    wait_for(lambda: consented_at_can() == ["USA"], 60, "the consent at CAN")
    shot(officer, "consent-given")
    assert serious_violations(officer) == []

    expect(row.get_by_role("button", name="Withdraw the consent to USA")).to_be_hidden()
    row.locator("summary").click()
    row.get_by_label("Why").fill("the exercise is over")
    row.get_by_role("button", name="Withdraw the consent to USA").click()
    expect(officer.locator("#consent-done")).to_have_attribute("data-state", "withdrawn")
    row = officer.locator('table.consents tr[data-to="USA"]')
    expect(row).to_have_attribute("data-state", "withdrawn")
    expect(row.locator("form")).to_have_count(0)  # nothing left to withdraw
    wait_for(lambda: consented_at_can() == [], 60, "the withdrawal at CAN")
    entries = audit_log(jpn)
    notes = {
        e["kind"]: e["data"].get("note")
        for e in entries
        if e["kind"].startswith("consent.") and e["data"].get("item") == item
    }
    assert "for the exercise only" in notes.values(), notes
    assert "the exercise is over" in notes.values(), notes

    analyst = open_on(jpn, "jpn-analyst")
    analyst.goto(f"/web/items/{item}")
    expect(analyst.locator('#consents tr[data-to="USA"]')).to_have_attribute(
        "data-state", "withdrawn"
    )
    expect(analyst.get_by_role("button", name="Give the consent")).to_have_count(0)
    expect(analyst.locator("#consents form")).to_have_count(0)
    with session_client(jpn, analyst) as client:  # the form posted anyway: refused, audited
        path = f"/web/items/{item}/consents"
        refused = client.post(path, data={"csrf": page_csrf(analyst), "to": "USA"})
    assert refused.status_code == 403, refused.text
    entries = audit_log(jpn)
    with jpn.client("jpn-officer") as client:
        listed = client.get(f"/api/v1/items/{item}/consents").json()
    assert any(
        e["kind"] == "refused"
        and (e["actor"], e["data"]["action"]) == ("jpn-analyst", f"POST {path}")
        for e in entries
    ), entries
    assert [c["state"] for c in listed] == ["withdrawn"]  # nothing given by the refusal
