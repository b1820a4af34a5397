"""``gsoia catalogue check|show``: validate a catalogue; show its policies and who may share."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gsoia import today_utc
from gsoia.cli.refusal import EXIT_INVALID, parse_day, refuse
from gsoia.errors import CatalogueError

if TYPE_CHECKING:  # the catalogue (pydantic, YAML) and Rich load when a command runs
    from rich.table import Table

    from gsoia.catalogue import Catalogue

app = typer.Typer(
    help="Check and show catalogues of policies and agreements.", no_args_is_help=True
)

STATUS_STYLE = {
    "negotiating": "yellow",
    "signed": "cyan",
    "in_force": "bold green",
    "suspended": "magenta",
    "terminated": "red",
}
"""Each agreement status's colour, by its value (``gsoia.catalogue.Status``)."""


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="The catalogue (YAML, or JSON if it ends .json).")],
) -> None:
    """Validate a catalogue: every problem on its own line, exit 2 if there is any."""
    from gsoia.catalogue import read_catalogue

    try:
        catalogue = read_catalogue(file)
    except CatalogueError as e:
        for problem in e.problems:
            where = "" if problem.place == str(file) else f"{file}: "
            print(f"gsoia: {where}{problem}", file=sys.stderr)
        raise typer.Exit(EXIT_INVALID) from None
    print(
        f"{file}: valid — {len(catalogue.policies)} policies, {len(catalogue.groups)} groups,"
        f" {len(catalogue.agreements)} agreements"
    )


@app.command()
def show(
    file: Annotated[
        Path | None, typer.Argument(help="A catalogue file; default: the bundled one.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="The date (YYYY-MM-DD); default: today (UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show the policies and the agreement matrix: who may share with whom, at which levels."""
    from rich.console import Console

    from gsoia.catalogue import read_catalogue

    day = parse_day(at) or today_utc()
    try:
        catalogue = read_catalogue(file)
    except CatalogueError as e:
        refuse(e)
    if as_json:
        print(json.dumps(_as_json(catalogue, day), ensure_ascii=False, indent=2))
        return
    console = Console(highlight=False)
    console.print(_policies(catalogue))
    console.print(_agreements(catalogue, day))
    console.print(_matrix(catalogue, day))


def _policies(catalogue: Catalogue) -> Table:
    from rich.table import Table

    table = Table(title="Policies (classified levels, lowest first)", title_justify="left")
    table.add_column("policy", style="bold")
    table.add_column("name")
    table.add_column("levels")
    for policy_id, policy in catalogue.policies.items():
        levels = " < ".join(
            f"{lv.id}" if lv.name == lv.id else f"{lv.id} {lv.name}" for lv in policy.levels
        )
        table.add_row(policy_id, policy.name, levels)
    for group, members in catalogue.groups.items():
        table.add_row(group, "group", ", ".join(members))
    return table


def _agreements(catalogue: Catalogue, day: dt.date) -> Table:
    from rich.table import Table

    from gsoia.catalogue.matrix import status_table

    table = Table(title=f"Agreements on {day.isoformat()}", title_justify="left")
    table.add_column("agreement", style="bold")
    table.add_column("status")
    table.add_column("history")
    table.add_column("equivalent levels")
    for agreement, status in status_table(catalogue, day):
        style = STATUS_STYLE.get(status.value, "dim") if status else "dim"
        history = ", ".join(f"{e.status.value} {e.date.isoformat()}" for e in agreement.events)
        rows = "; ".join(
            " = ".join(f"{p} {'/'.join(lv)}" for p, lv in r.items()) for r in agreement.rows()
        )
        table.add_row(
            agreement.id,
            f"[{style}]{status.value if status else 'no status yet'}[/]",
            history,
            rows,
        )
    return table


def _matrix(catalogue: Catalogue, day: dt.date) -> Table:
    from rich.table import Table

    from gsoia.catalogue.matrix import matrix

    pairs = matrix(catalogue, day)
    parties = [p for p in catalogue.policies if any(p in pair for pair in pairs)]
    table = Table(
        title=f"Who may share with whom on {day.isoformat()} (row releases to column;"
        " cell: governing agreement, levels exchanged)",
        title_justify="left",
    )
    table.add_column("from \\ to", style="bold")
    for party in parties:
        table.add_column(party)
    for source in parties:
        cells = []
        for to in parties:
            pairing = pairs.get((source, to))
            if source == to:
                cells.append("[dim]—[/]")
            elif pairing is None:
                cells.append("")
            else:
                levels = ", ".join(f"{a}→{b}" for a, b in pairing.levels)
                cells.append(f"[green]{pairing.agreement}[/]\n{levels}")
        table.add_row(source, *cells)
    return table


def _as_json(catalogue: Catalogue, day: dt.date) -> dict[str, Any]:
    from gsoia.catalogue.matrix import matrix, status_table

    return {
        "at": day.isoformat(),
        "policies": {
            pid: {"name": p.name, "levels": [lv.id for lv in p.levels]}
            for pid, p in catalogue.policies.items()
        },
        "groups": catalogue.groups,
        "agreements": [
            {"id": a.id, "parties": a.parties, "status": s.value if s else None}
            for a, s in status_table(catalogue, day)
        ],
        "matrix": [
            {
                "from": p.source,
                "to": p.to,
                "agreement": p.agreement,
                "levels": [{"from": a, "to": b} for a, b in p.levels],
            }
            for p in matrix(catalogue, day).values()
        ],
    }
