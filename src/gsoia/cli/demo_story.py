"""The story ``gsoia demo`` tells (``gsoia.cli.demo_cmd``): Japan and Canada, three live nodes.

Japan's, Canada's and the United States' nodes run on loopback, each a ``gsoia serve``
process with its own keys, SQLite store and audit log. Every verdict printed is the
nodes' own answer over HTTP (or, for the survival what-if, the decision itself): none is
scripted.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel

from gsoia import Rulebook, load_catalogue
from gsoia.catalogue import Catalogue
from gsoia.catalogue.load import catalogue_from_document
from gsoia.cli.demo_cluster import DemoNode
from gsoia.cli.demo_visit import visit_scene
from gsoia.decision import Decision
from gsoia.node.users import Role

CONTENT = "Two unidentified submarines transited the Miyako Strait on 3 November."
TALKS = dt.date(2022, 10, 11)
SIGNED = dt.date(2025, 7, 8)

ITEM: dict[str, Any] = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN", "USA"],
    "need_to_know": ["maritime"],
}
ANALYST: dict[str, Any] = {
    "id": "can-analyst-s",
    "nation": "CAN",
    "clearance": "S",
    "need_to_know": ["maritime"],
}


def _decided(decision: Decision) -> str:
    if decision.allow:
        assert decision.marking is not None
        return f"[bold green]ALLOW[/]  [reverse] {decision.marking.text} [/]"
    return f"[bold red]{decision.reason.value}[/] (rule {decision.rule})"


def _show(console: Console, what: str, decision: Decision) -> None:
    console.print(f"  {what}")
    console.print(f"    → {_decided(decision)}")
    console.print(f"    [dim]{decision.explanation}[/]")


def _request(
    subject: dict[str, Any], label: dict[str, Any], at: dt.date, **custody: Any
) -> dict[str, Any]:
    return {"subject": subject, "label": label, "at": at.isoformat(), **custody}


def _terminated(catalogue: Catalogue, agreement_id: str, on: dt.date) -> Rulebook:
    """The same catalogue with one agreement terminated on ``on`` (a what-if)."""
    document = catalogue.model_dump(mode="json")
    for agreement in document["agreements"]:
        if agreement["id"] == agreement_id:
            agreement["events"].append({"status": "terminated", "date": on.isoformat()})
    return Rulebook(catalogue_from_document(document), today=lambda: on)


def tell(data: Path | None, serve: bool) -> None:
    """Start the three nodes, tell the story, and (``serve``) keep them serving."""
    console = Console(highlight=False)
    console.print(
        Panel.fit(
            "[bold]gsoia[/] — General Security of Information Agreements, executable\n"
            "Three nodes on this machine — Japan, Canada, the United States — each with its"
            " own keys,\nSQLite store and audit log, sharing under the bundled catalogue."
            " Every verdict below\nis decided by the nodes themselves.",
            title="demo",
        )
    )
    with tempfile.TemporaryDirectory(prefix="gsoia-demo-") as scratch:
        root = data or Path(scratch)
        cluster = {n: DemoNode(n, root / n.lower()) for n in ("JPN", "CAN", "USA")}
        try:
            _story(console, cluster)
            if serve:
                _serve(console, cluster)
        finally:
            for node in cluster.values():
                node.stop()


def _story(console: Console, cluster: dict[str, DemoNode]) -> None:
    """The scenes, in order, on the three nodes."""
    jpn, can, usa = cluster["JPN"], cluster["CAN"], cluster["USA"]
    _set_up(console, cluster)
    item = _released_when(console, jpn)
    _read_at_equivalent(console, can, item)
    _third_party(console, jpn, can, usa, item)
    _compromise(console, jpn, can, item)
    visit_scene(console, jpn, can, item, _verdict)
    _survival(console)
    _verified(console, cluster)


def _set_up(console: Console, cluster: dict[str, DemoNode]) -> None:
    """Three nodes, their users, their pinned peers."""
    jpn, can, usa = cluster["JPN"], cluster["CAN"], cluster["USA"]
    console.rule("Setting up: three nodes, their users, their pinned peers")
    for node in cluster.values():
        if not (node.data / "node.json").exists():
            node.init()
    jpn.user("jpn-analyst", "JPN", "KIMITSU", ["maritime"])
    jpn.user("jpn-officer", "JPN", "KIMITSU", ["maritime"], Role.OFFICER)
    can.user("can-analyst-s", "CAN", "S", ["maritime"])
    can.user("can-analyst-c", "CAN", "C", ["maritime"])
    can.user("can-officer", "CAN", "TS", ["maritime"], Role.OFFICER)
    usa.user("usa-analyst", "USA", "S", ["maritime"])
    usa.user("usa-officer", "USA", "TS", ["maritime"], Role.OFFICER)
    for node in cluster.values():
        node.launch()  # the three start side by side
    for node in cluster.values():
        node.wait_ready()
        console.print(f"  {node.nation} node serving at {node.url}")
    for node in cluster.values():
        for peer in cluster.values():
            if peer is not node:
                node.pin(peer)
    console.print("  each node pinned the others' keys from /.well-known/gsoia")


def _released_when(console: Console, jpn: DemoNode) -> str:
    """Japan files an item and releases it to Canada before and after the agreement: its id."""
    console.rule("1. Talks, signature, entry into force: when may Japan release to Canada?")
    created = jpn.call(
        "jpn-analyst",
        "POST",
        "/api/v1/items",
        json={"label": ITEM, "title": "East China Sea patrol assessment", "content": CONTENT},
    )
    item = str(created.json()["id"])
    console.print(
        f"  Japan files a 極秘 maritime assessment, releasable to CAN and USA ({item[:8]}…)"
    )
    for label, day in (
        ("talks launched (Tokyo)", TALKS),
        ("agreement signed (Tokyo)", SIGNED),
        ("in force", None),
    ):
        jpn.restart(day)
        when = day.isoformat() if day else f"today ({dt.date.today().isoformat()})"
        response = jpn.call(
            "jpn-analyst", "POST", f"/api/v1/items/{item}/releases", json={"to": "CAN"}
        )
        _verdict(console, f"[bold]{when}[/] {label}: Japan releases to Canada", response)
    return item


def _read_at_equivalent(console: Console, can: DemoNode, item: str) -> None:
    """Canada's analysts read it at the equivalent level, if cleared."""
    console.rule("2. Canada reads it at its equivalent level — if cleared (Art. 7)")
    _verdict(
        console,
        "a Canadian analyst cleared SECRET reads it",
        can.call("can-analyst-s", "GET", f"/api/v1/items/{item}"),
    )
    _verdict(
        console,
        "a Canadian analyst cleared CONFIDENTIAL asks",
        can.call("can-analyst-c", "GET", f"/api/v1/items/{item}"),
    )


def _third_party(console: Console, jpn: DemoNode, can: DemoNode, usa: DemoNode, item: str) -> None:
    """Canada passes it on to the USA only with Japan's written consent."""
    console.rule("3. The third-party rule: Canada may not pass Japan's item on without consent")
    _verdict(
        console,
        "Canada releases its copy to the USA",
        can.call("can-analyst-s", "POST", f"/api/v1/items/{item}/releases", json={"to": "USA"}),
    )
    asked = can.call(
        "can-analyst-s", "POST", f"/api/v1/items/{item}/consent-requests", json={"to": "USA"}
    )
    console.print(f"  Canada asks Japan for written consent → request {asked.json()['state']}")
    queue = jpn.call("jpn-officer", "GET", "/api/v1/consent-requests").json()
    request = next(r for r in queue if r["item_id"] == item)
    console.print(
        f"  Japan's officer sees it in the queue: {request['custodian']} asks to release to"
        f" {request['to_party']} — and grants it"
    )
    jpn.call(
        "jpn-officer", "POST", f"/api/v1/consent-requests/{request['id']}", json={"grant": True}
    )
    _verdict(
        console,
        "Canada releases its copy to the USA, with Japan's signed consent",
        can.call("can-analyst-s", "POST", f"/api/v1/items/{item}/releases", json={"to": "USA"}),
    )
    _verdict(
        console,
        "a US analyst cleared SECRET reads it",
        usa.call("usa-analyst", "GET", f"/api/v1/items/{item}"),
    )


def _compromise(console: Console, jpn: DemoNode, can: DemoNode, item: str) -> None:
    """A compromise reported by Canada reaches Japan's officers."""
    console.rule("4. A compromise is reported to the originator at once (Art. 17)")
    can.call(
        "can-analyst-s",
        "POST",
        "/api/v1/incidents",
        json={"item": item, "kind": "possible_compromise", "description": "laptop left on a train"},
    )
    console.print("  Canada reports a possible compromise of its copy")
    incidents: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not incidents:
        incidents = [
            i
            for i in jpn.call("jpn-officer", "GET", "/api/v1/incidents").json()
            if i["item_id"] == item
        ]
        time.sleep(0.3)
    if incidents:
        console.print(
            f"  → it reached Japan's officers: [bold]{incidents[0]['kind']}[/] reported by"
            f" {incidents[0]['reported_by']}"
        )
    else:
        console.print("  → [red]the notice has not reached Japan yet (see the CAN outbox)[/]")


def _survival(console: Console) -> None:
    """Protection outlives the agreement (a what-if on the catalogue)."""
    console.rule("6. Protection outlives the agreement (survival, a what-if on the catalogue)")
    cat = load_catalogue()
    what_if = _terminated(cat.catalogue, "JPN-CAN", dt.date(2030, 1, 1))
    after = dt.date(2031, 1, 1)
    _show(
        console,
        "if JPN-CAN were terminated in 2030: a new release from Japan in 2031",
        what_if.decide(_request(ANALYST, ITEM, after)),
    )
    _show(
        console,
        "… and Canada's own copy, received while in force, in 2031",
        what_if.decide(_request(ANALYST, ITEM, after, custodian="CAN")),
    )


def _verified(console: Console, cluster: dict[str, DemoNode]) -> None:
    """Every node's audit log verifies."""
    console.rule("7. Every node proves what happened: its audit log verifies")
    for node in cluster.values():
        console.print(f"  {node.nation}: {node.verify_audit()}")


def _serve(console: Console, cluster: dict[str, DemoNode]) -> None:
    console.rule("The nodes keep serving — sign in with these tokens (Ctrl-C to stop)")
    for node in cluster.values():
        console.print(f"  [bold]{node.nation}[/] {node.url}/")
        for user_id, token in node.tokens.items():
            console.print(f"      {user_id:<16} {token}")
    try:
        while all(n.process is not None and n.process.poll() is None for n in cluster.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping the nodes")


def _verdict(console: Console, what: str, response: httpx.Response) -> None:
    body = response.json()
    console.print(f"  {what}")
    if response.status_code < 300:
        marking = (body.get("decision") or body).get("marking") or {}
        state = f" — {body['state']}" if "state" in body else ""
        console.print(f"    → [bold green]ALLOW[/]  [reverse] {marking.get('text', '')} [/]{state}")
        explanation = (body.get("decision") or {}).get("explanation")
        if explanation:
            console.print(f"    [dim]{explanation}[/]")
    else:
        reason = body.get("reason", body.get("title"))
        rule = f" (rule {body['rule']})" if body.get("rule") else ""
        console.print(f"    → [bold red]{reason}[/]{rule}")
        console.print(f"    [dim]{body.get('explanation') or body.get('detail')}[/]")
