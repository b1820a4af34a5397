"""The visit scene of ``gsoia demo`` (``gsoia.cli.demo_story``): a Canadian analyst visits
Japan. Canada's officer assures the analyst's clearance to Japan and requests the visit;
Japan's officer approves it; the analyst's token reaches Canada's node sealed. Japan's
node, set to a day of the visit, lets the visitor read the 極秘 item under the dual
marking; set to the day after, refuses the token. Every answer is the nodes' own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
from rich.console import Console

from gsoia.cli.demo_cluster import DemoNode

LEAD = 21
"""Days ahead the visit begins (the default lead time is 20)."""


Show = Callable[[Console, str, httpx.Response], None]


def visit_scene(console: Console, jpn: DemoNode, can: DemoNode, item: str, show: Show) -> None:
    """The scene; ``show(console, what, response)`` prints a verdict."""
    console.rule("5. A Canadian analyst visits Japan: assured, requested, approved (Art. 7, 8)")
    today = dt.date.today()
    first, last = today + dt.timedelta(days=LEAD), today + dt.timedelta(days=LEAD + 2)
    assured = can.call(
        "can-officer",
        "POST",
        "/api/v1/assurances",
        json={
            "to": "JPN",
            "person": {"id": "can-analyst-s", "name": "Alex Tremblay"},
            "clearance": "S",
            "expires": (today + dt.timedelta(days=365)).isoformat(),
            "need_to_know": ["maritime"],
        },
    ).json()
    seen = next(
        a for a in jpn.call("jpn-officer", "GET", "/api/v1/assurances").json()
        if a["id"] == assured["id"]
    )  # fmt: skip
    console.print(
        f"  Canada assures its analyst's clearance to Japan: CAN {seen['clearance']}, which"
        f" Japan's officers see as JPN {seen['equivalent']} ({seen['agreement']})"
    )
    asked = can.call(
        "can-officer",
        "POST",
        "/api/v1/visits",
        json={
            "to": "JPN", "visitors": [assured["id"]], "purpose": "maritime liaison",
            "place": "Ministry of Defense, Ichigaya", "first_day": first.isoformat(),
            "last_day": last.isoformat(), "areas": ["maritime"], "kind": "one-time",
        },
    ).json()  # fmt: skip
    console.print(f"  Canada requests the visit, {first} to {last} → {asked['delivery']}")
    answer = jpn.call(
        "jpn-officer", "POST", f"/api/v1/visits/{asked['id']}/approve", json={"note": "welcome"}
    ).json()
    console.print(f"  Japan's officer approves it at CAN S → the answer {answer['delivery']}")
    tokens = can.call("can-officer", "GET", f"/api/v1/visits/{asked['id']}/tokens").json()
    token = tokens["tokens"]["can-analyst-s"]
    console.print("  Canada's officer hands the analyst the token (shown once)")
    headers = {"Authorization": f"Bearer {token}"}
    during, after = first + dt.timedelta(days=1), last + dt.timedelta(days=1)
    for day, when in ((during, "during the visit"), (after, "the day after")):
        jpn.restart(day)
        with httpx.Client(base_url=jpn.url, headers=headers, timeout=30) as visitor:
            response = visitor.get(f"/api/v1/items/{item}")
        show(console, f"[bold]{day}[/] {when}: the visitor reads Japan's item in Japan", response)
    jpn.restart(None)
