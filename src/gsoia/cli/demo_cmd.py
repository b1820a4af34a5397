"""``gsoia demo``: the Japan–Canada story, told through the decision itself.

Until the node and federation exist, the demo runs the real decision over the bundled
catalogue: every verdict printed here is computed, none is scripted.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from gsoia import Rulebook, load_catalogue
from gsoia.catalogue import Catalogue
from gsoia.catalogue.load import catalogue_from_document
from gsoia.decision import Decision

TALKS = dt.date(2022, 10, 11)
SIGNED = dt.date(2025, 7, 8)
IN_FORCE = dt.date(2025, 10, 16)

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


def _verdict(decision: Decision) -> str:
    if decision.allow:
        assert decision.marking is not None
        return f"[bold green]ALLOW[/]  [reverse] {decision.marking.text} [/]"
    return f"[bold red]{decision.reason.value}[/] (rule {decision.rule})"


def _show(console: Console, what: str, decision: Decision) -> None:
    console.print(f"  {what}")
    console.print(f"    → {_verdict(decision)}")
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


def demo() -> None:
    """Narrate the Japan–Canada agreement through the decision (talks → signature → force)."""
    console = Console(highlight=False)
    cat = load_catalogue()
    console.print(
        Panel.fit(
            "[bold]gsoia[/] — General Security of Information Agreements, executable\n"
            "Japan releases a [bold]極秘 (Gokuhi)[/] maritime assessment, releasable to CAN"
            " and USA.\nWho may read it, when, and marked how? Every answer below is"
            " computed from the bundled catalogue.",
            title="demo",
        )
    )

    console.rule("1. Japan and Canada: from talks to entry into force")
    for label, day in (
        ("before talks", TALKS - dt.timedelta(days=1)),
        ("talks launched (Tokyo, 2022-10-11)", TALKS),
        ("signed (Tokyo, 2025-07-08)", SIGNED),
        ("in force (2025-10-16)", IN_FORCE),
    ):
        decision = cat.decide(_request(ANALYST, ITEM, day))
        _show(console, f"[bold]{day}[/] {label}: a Canadian SECRET-cleared analyst asks", decision)

    console.rule("2. After entry into force: clearance and need-to-know (Art. 7)")
    after = IN_FORCE + dt.timedelta(days=30)
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("CAN analyst cleared CONFIDENTIAL", {**ANALYST, "clearance": "C"}, ITEM),
        (
            "CAN analyst cleared SECRET, no maritime need-to-know",
            {**ANALYST, "need_to_know": []},
            ITEM,
        ),
        (
            "CAN analyst, SECRET clearance expired",
            {**ANALYST, "clearance_expires": "2025-11-01"},
            ITEM,
        ),
        (
            "JPN analyst cleared 秘 (Hi) only",
            {"id": "jpn-hi", "nation": "JPN", "clearance": "HI", "need_to_know": ["maritime"]},
            ITEM,
        ),
        ("the same item marked NOFORN, CAN SECRET analyst", ANALYST, {**ITEM, "releasable_to": []}),
        (
            "a 機密 (Kimitsu) item, KOR Class I analyst",
            {"id": "kor-1", "nation": "KOR", "clearance": "I", "need_to_know": ["maritime"]},
            {**ITEM, "classification": "KIMITSU", "releasable_to": ["KOR"]},
        ),
        (
            "the item to Ukraine: signed, not in force",
            {"id": "ukr-1", "nation": "UKR", "clearance": "CT", "need_to_know": ["maritime"]},
            {**ITEM, "releasable_to": ["UKR"]},
        ),
    ]
    for what, someone, item in cases:
        _show(console, what, cat.decide(_request(someone, item, after)))

    console.rule("3. The third-party rule: Canada may not pass Japan's item on")
    us_analyst = {"id": "usa-s", "nation": "USA", "clearance": "S", "need_to_know": ["maritime"]}
    _show(
        console,
        "Canada's copy, to a US analyst, without Japan's consent",
        cat.decide(_request(us_analyst, ITEM, after, custodian="CAN")),
    )
    _show(
        console,
        "Canada's copy, to a US analyst, after Japan's written consent",
        cat.decide(_request(us_analyst, ITEM, after, custodian="CAN", consented_to=["USA"])),
    )

    console.rule("4. Protection outlives the agreement (survival)")
    ended = dt.date(2031, 1, 1)
    what_if = _terminated(cat.catalogue, "JPN-CAN", dt.date(2030, 1, 1))
    _show(
        console,
        "what if JPN-CAN were terminated in 2030: a new release from Japan in 2031",
        what_if.decide(_request(ANALYST, ITEM, ended)),
    )
    _show(
        console,
        "… and Canada's own copy, received while in force, in 2031",
        what_if.decide(_request(ANALYST, ITEM, ended, custodian="CAN")),
    )

    console.rule("5. A listing decides for every item at once (decide_many)")
    rng = random.Random(7)  # noqa: S311 - sample data, not secrets
    policies = cat.catalogue.policies
    labels = []
    for _ in range(200_000):
        originator = rng.choice(["JPN", "JPN", "USA", "CAN", "GBR", "KOR"])
        labels.append(
            {
                "originator": originator,
                "classification": rng.choice(policies[originator].levels).id,
                "area": rng.choice(["maritime", "cyber", "space"]),
                "releasable_to": rng.sample(["CAN", "USA", "FVEY", "KOR", "GBR"], 2),
                "need_to_know": rng.sample(["maritime", "cyber"], rng.randint(0, 1)),
            }
        )
    started = time.perf_counter()
    table = cat.label_table(labels)
    built = time.perf_counter() - started
    per_label = table.nbytes / len(labels)
    summary = Table(
        title=f"{len(labels):,} labels (built in {built:.2f} s, {per_label:.0f} bytes a label)"
    )
    summary.add_column("subject")
    summary.add_column("may see", justify="right")
    summary.add_column("decided in", justify="right")
    for subject in (
        ANALYST,
        {**ANALYST, "clearance": "C"},
        {
            "id": "jpn-k",
            "nation": "JPN",
            "clearance": "KIMITSU",
            "need_to_know": ["maritime", "cyber"],
        },
        us_analyst,
    ):
        started = time.perf_counter()
        allowed = cat.decide_many(subject, table, at=after)
        spent = time.perf_counter() - started
        summary.add_row(
            f"{subject['nation']} {subject['clearance']} {'/'.join(subject['need_to_know'])}",
            f"{int(allowed.sum()):,}",
            f"{spent * 1000:.1f} ms",
        )
    console.print(summary)
    console.print(
        "\n[dim]Next: `gsoia catalogue show` for the agreement matrix,"
        " `gsoia decide` for your own requests.[/]"
    )
