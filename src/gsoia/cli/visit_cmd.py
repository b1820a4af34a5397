"""``gsoia assurance …`` and ``gsoia visit …``: the operator issues and withdraws
personnel security assurances, requests, answers (or asks for more on), cancels and ends
visits, and hands out the visitors' tokens (``gsoia.node.exchange``), each audited with the
actor ``cli``. ``gsoia user remove --id visitor:VISIT:PERSON`` removes a visitor's account.

Each command prints what the node answers as JSON. Errors are one line on stderr: exit 2
for what was given wrong (a level, a date, a visitor without an assurance), 1 for any
other refusal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gsoia.cli.node_cmd import Data, Database, open_node, refused_at
from gsoia.cli.refusal import parse_day, refuse
from gsoia.errors import GsoiaError

if TYPE_CHECKING:
    from gsoia.node.authority import Operator
    from gsoia.node.exchange import Exchange

assurance_app = typer.Typer(
    help="Personnel security assurances: a person's clearance confirmed to a partner.",
    no_args_is_help=True,
)
visit_app = typer.Typer(
    help="Requests for visits to a partner's facilities, and the host's answers.",
    no_args_is_help=True,
)

Id = Annotated[str, typer.Option("--id", help="The assurance's or the visit's id.")]
To = Annotated[str, typer.Option("--to", help="The partner nation (JPN).")]
Note = Annotated[str, typer.Option("--note", help="The officer's note, sent with the answer.")]


def _run(
    data: Data, database: str | None, command: str, work: Callable[[Exchange, Operator], Any]
) -> None:
    """``work`` on the node opened from ``data`` by the operator (``gsoia COMMAND``); its
    answer printed. A refusal is one line, and written to the node's audit log."""
    from gsoia.node.authority import OPERATOR

    node = open_node(data, database)
    try:
        answer = work(node.exchange, OPERATOR)
    except GsoiaError as e:
        refused_at(node, command, e)
    finally:
        node.exchange.courier.stop()  # (its HTTP client, if it delivered)
        node.close()
    print(json.dumps(answer, ensure_ascii=False, indent=2))


def _day(text: str, option: str) -> Any:
    day = parse_day(text, option)
    assert day is not None  # INVARIANT: a required option
    return day


@assurance_app.command("issue")
def assurance_issue(
    data: Data,
    to: To,
    person_id: Annotated[str, typer.Option("--person-id", help="The person's id.")],
    name: Annotated[str, typer.Option("--name", help="The person's name (kept encrypted).")],
    clearance: Annotated[str, typer.Option("--clearance", help="In this nation's scheme.")],
    expires: Annotated[str, typer.Option("--expires", help="YYYY-MM-DD")],
    need_to_know: Annotated[
        list[str] | None, typer.Option("--need-to-know", help="An area (repeat for several).")
    ] = None,
    birth_date: Annotated[
        str | None, typer.Option("--birth-date", help="YYYY-MM-DD, if the partner asks")
    ] = None,
    birth_place: Annotated[
        str | None, typer.Option("--birth-place", help="If the partner asks for it.")
    ] = None,
    database: Database = None,
) -> None:
    """Assure a person's clearance to a partner; it travels sealed to the partner's node."""
    from pydantic import ValidationError

    from gsoia.node.exchange.visit_bodies import Person

    try:
        person = Person(name=name, birth_date=parse_day(birth_date, "--birth-date"),
                        birth_place=birth_place)  # fmt: skip
    except ValidationError as e:
        refuse(f"--name: {e.errors(include_url=False)[0]['msg']}")
    day = _day(expires, "--expires")
    _run(data, database, "assurance issue", lambda x, cli: x.assurances.issue(
        cli, to, person_id, person, clearance, day, need_to_know or []))  # fmt: skip


@assurance_app.command("list")
def assurance_list(data: Data, database: Database = None) -> None:
    """Every assurance issued or received, with the person and the equivalent level."""
    _run(data, database, "assurance list", lambda x, cli: x.assurances.listed(cli))


@assurance_app.command("withdraw")
def assurance_withdraw(data: Data, assurance_id: Id, database: Database = None) -> None:
    """Withdraw an assurance; the partner is told at once and ends the person's visits."""
    _run(
        data,
        database,
        "assurance withdraw",
        lambda x, cli: x.assurances.withdraw(cli, assurance_id),
    )


@assurance_app.command("amend")
def assurance_amend(
    data: Data,
    assurance_id: Id,
    clearance: Annotated[str | None, typer.Option("--clearance", help="The new level.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="YYYY-MM-DD")] = None,
    need_to_know: Annotated[
        list[str] | None, typer.Option("--need-to-know", help="An area (repeat); replaces all.")
    ] = None,
    database: Database = None,
) -> None:
    """Amend an assurance; the partner is told at once and ends what it no longer covers."""
    from gsoia.node.exchange.amendments import Amendment

    change = Amendment(clearance, parse_day(expires, "--expires"), need_to_know)
    _run(
        data,
        database,
        "assurance amend",
        lambda x, cli: x.amendments.amend(cli, assurance_id, change),
    )


@visit_app.command("request")
def visit_request(
    data: Data,
    to: To,
    visitor: Annotated[list[str], typer.Option("--visitor", help="An assurance id (repeat).")],
    purpose: Annotated[str, typer.Option("--purpose", help="Why the visit.")],
    place: Annotated[str, typer.Option("--place", help="The facility visited.")],
    first_day: Annotated[str, typer.Option("--first-day", help="YYYY-MM-DD")],
    last_day: Annotated[str, typer.Option("--last-day", help="YYYY-MM-DD")],
    area: Annotated[list[str], typer.Option("--area", help="An area of the visit (repeat).")],
    kind: Annotated[
        str, typer.Option("--kind", help="one-time, recurring, emergency or amendment.")
    ] = "one-time",
    reason: Annotated[str | None, typer.Option("--reason", help="An emergency's.")] = None,
    amends: Annotated[str | None, typer.Option("--amends", help="The visit amended.")] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="Highest level asked (default: assured).")
    ] = None,
    database: Database = None,
) -> None:
    """Request a visit to a partner for people assured to it."""
    from gsoia.node.exchange.visits import VisitRequest

    asked = VisitRequest(
        to, visitor, purpose, place, _day(first_day, "--first-day"),
        _day(last_day, "--last-day"), area, kind, reason, amends, level,
    )  # fmt: skip
    _run(data, database, "visit request", lambda x, cli: x.visits.request(cli, asked))


@visit_app.command("list")
def visit_list(data: Data, database: Database = None) -> None:
    """Every visit requested or received, each visitor with its assurance."""
    _run(data, database, "visit list", lambda x, cli: x.visits.listed(cli))


@visit_app.command("approve")
def visit_approve(
    data: Data,
    visit_id: Id,
    note: Note = "",
    level: Annotated[
        str | None, typer.Option("--level", help="Highest level, visiting party's scheme.")
    ] = None,
    database: Database = None,
) -> None:
    """Approve a visit: an account for each visitor, its token sent sealed to the partner."""
    _run(data, database, "visit approve", lambda x, cli: x.visit_answers.decide(
        cli, visit_id, approve=True, note=note, level=level))  # fmt: skip


@visit_app.command("refuse")
def visit_refuse(data: Data, visit_id: Id, note: Note = "", database: Database = None) -> None:
    """Refuse a visit; the partner is told."""
    _run(data, database, "visit refuse", lambda x, cli: x.visit_answers.decide(
        cli, visit_id, approve=False, note=note, level=None))  # fmt: skip


@visit_app.command("ask")
def visit_ask(data: Data, visit_id: Id, note: Note, database: Database = None) -> None:
    """Ask the visiting party for more on a request to this node; it may amend it."""
    _run(data, database, "visit ask", lambda x, cli: x.visit_steps.ask(cli, visit_id, note))


@visit_app.command("end")
def visit_end(data: Data, visit_id: Id, note: Note = "", database: Database = None) -> None:
    """End an approved visit to this node now: the visitors' tokens are refused at once."""
    _run(data, database, "visit end", lambda x, cli: x.visit_steps.end(cli, visit_id, note))


@visit_app.command("cancel")
def visit_cancel(data: Data, visit_id: Id, database: Database = None) -> None:
    """Cancel a visit this node requested; the host ends the visitors' accounts."""
    _run(data, database, "visit cancel", lambda x, cli: x.visits.cancel(cli, visit_id))


@visit_app.command("tokens")
def visit_tokens(data: Data, visit_id: Id, database: Database = None) -> None:
    """The visitors' tokens of an approved visit, each shown once."""
    _run(data, database, "visit tokens", lambda x, cli: x.visit_answers.tokens(cli, visit_id))


@visit_app.command("lead-time")
def visit_lead_time(
    data: Data,
    agreement: Annotated[
        str | None, typer.Option("--agreement", help="An agreement of this nation (JPN-CAN).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days a request must come before its first day (0-365)."),
    ] = None,
    database: Database = None,
) -> None:
    """Each agreement's lead time for requests for visits; with --agreement and --days,
    set that agreement's (audited). An emergency request may come sooner, with its reason."""
    if agreement is None and days is None:
        _run(data, database, "visit lead-time", lambda x, cli: x.lead_times.listed(cli))
        return
    if agreement is None or days is None:
        refuse("--agreement and --days are given together (neither: list the lead times)")
    _run(data, database, "visit lead-time", lambda x, cli: x.lead_times.set(cli, agreement, days))


@visit_app.command("erase")
def visit_erase(data: Data, database: Database = None) -> None:
    """Erase the personal data past its retention (the setting personal_retention_days)."""
    from gsoia.node.exchange.erasure import erase_personal

    _run(data, database, "visit erase", lambda x, cli: erase_personal(x.node))
