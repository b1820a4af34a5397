"""What the agreements pages draw: the nations × nations matrix and each agreement's story.

Pure: geometry and words computed from the catalogue and a date; the templates only place
them in SVG and HTML. Status colours carry a text abbreviation too, never colour alone;
each fill has at least 6.5:1 contrast with its text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gsoia.catalogue.model import Agreement, Catalogue, Status


@dataclass(frozen=True)
class Look:
    fill: str
    ink: str
    abbreviation: str
    words: str


LOOKS: dict[Status | None, Look] = {
    Status.IN_FORCE: Look("#1e6b34", "#ffffff", "IF", "in force"),
    Status.SIGNED: Look("#f2c230", "#000000", "SG", "signed, not yet in force"),
    Status.NEGOTIATING: Look("#9cc3e6", "#000000", "NG", "under negotiation"),
    Status.SUSPENDED: Look("#8a4b08", "#ffffff", "SU", "suspended"),
    Status.TERMINATED: Look("#555555", "#ffffff", "TE", "terminated"),
    None: Look("#f4f4f4", "#1a1a1a", "", "no agreement"),
}
LEGEND = [(status, LOOKS[status]) for status in (*Status, None)]

HEADLINES = {
    Status.NEGOTIATING: "Talks opened",
    Status.SIGNED: "Signed",
    Status.IN_FORCE: "Entered into force",
    Status.SUSPENDED: "Suspended",
    Status.TERMINATED: "Terminated",
}

# Which agreement speaks for a pair of policies on a date: the most advanced status, then
# (as rule 5 of docs/decision.md §3) the fewest parties, then the smallest id.
_PRECEDENCE = {
    Status.IN_FORCE: 0,
    Status.SUSPENDED: 1,
    Status.SIGNED: 2,
    Status.NEGOTIATING: 3,
    Status.TERMINATED: 4,
}

CELL = 44
LABEL = 64
HEAD = 28


@dataclass(frozen=True)
class Cell:
    row: str
    column: str
    x: int
    y: int
    status: Status | None
    agreement: str | None
    look: Look
    title: str


@dataclass(frozen=True)
class Matrix:
    day: dt.date
    nations: list[str]
    cells: list[Cell]
    width: int
    height: int
    cell: int = CELL
    label: int = LABEL
    head: int = HEAD


def pair_status(
    catalogue: Catalogue, a: str, b: str, day: dt.date
) -> tuple[Status | None, Agreement | None]:
    """The status between two policies on ``day`` and the agreement that gives it."""
    found = [
        (status, agreement)
        for agreement in catalogue.agreements
        if a in agreement.parties
        and b in agreement.parties
        and (status := agreement.status_on(day)) is not None
    ]
    if not found or a == b:
        return None, None
    status, agreement = min(found, key=lambda f: (_PRECEDENCE[f[0]], len(f[1].parties), f[1].id))
    return status, agreement


def matrix(catalogue: Catalogue, first: str, day: dt.date) -> Matrix:
    """Every pair of policies, ``first`` (the node's nation) leading the rows and columns."""
    nations = [first, *(p for p in catalogue.policies if p != first)]
    cells = []
    for i, row in enumerate(nations):
        for j, column in enumerate(nations):
            status, agreement = pair_status(catalogue, row, column, day)
            look = LOOKS[status]
            if row == column:
                title = f"{row}: same policy"
            elif agreement is None:
                title = f"{row} – {column}: no agreement on {day.isoformat()}"
            else:
                title = f"{row} – {column}: {agreement.id} {look.words} on {day.isoformat()}"
            cells.append(
                Cell(
                    row,
                    column,
                    LABEL + j * CELL,
                    HEAD + i * CELL,
                    status,
                    agreement.id if agreement else None,
                    look,
                    title,
                )
            )
    size = len(nations) * CELL
    return Matrix(day, nations, cells, LABEL + size + 2, HEAD + size + 2)


def span(start: dt.date, end: dt.date) -> str:
    """``2 years 8 months``, ``3 months``, ``12 days``: the time from start to end."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    years, months = divmod(max(months, 0), 12)
    if years == 0 and months == 0:
        days = (end - start).days
        return f"{days} day{'' if days == 1 else 's'}"
    parts = []
    if years:
        parts.append(f"{years} year{'' if years == 1 else 's'}")
    if months:
        parts.append(f"{months} month{'' if months == 1 else 's'}")
    return " ".join(parts)


def long_date(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%B')} {day.year}"


@dataclass(frozen=True)
class Chapter:
    """One event of an agreement, told as a step of its story."""

    number: int
    date: dt.date
    status: Status
    headline: str
    since: str | None
    source: str | None
    future: bool
    look: Look


def _since(previous: Status, start: dt.date, end: dt.date) -> str:
    if start == end:
        return "the same day"
    took = span(start, end)
    return {
        Status.NEGOTIATING: f"after {took} of talks",
        Status.SIGNED: f"{took} after signature",
        Status.IN_FORCE: f"after {took} in force",
        Status.SUSPENDED: f"after {took} of suspension",
    }.get(previous, f"{took} later")


def chapters(agreement: Agreement, day: dt.date) -> list[Chapter]:
    """The agreement's events in order; those after ``day`` are marked as the future."""
    told = []
    previous = None
    for number, event in enumerate(agreement.events, 1):
        told.append(
            Chapter(
                number,
                event.date,
                event.status,
                HEADLINES[event.status],
                _since(previous.status, previous.date, event.date) if previous else None,
                event.source,
                event.date > day,
                LOOKS[event.status],
            )
        )
        previous = event
    return told


def summary(agreement: Agreement, day: dt.date) -> str:
    """One sentence: where the agreement stands on ``day`` and since when."""
    past = [e for e in agreement.events if e.date <= day]
    when = long_date(day)
    if not agreement.events:
        return f"No event of {agreement.id} is recorded."
    if not past:
        first = agreement.events[0]
        return (
            f"On {when} there was nothing yet between {' and '.join(agreement.parties)}: "
            f"{HEADLINES[first.status].lower()} on {long_date(first.date)}."
        )
    last = past[-1]
    status = agreement.status_on(day) or last.status
    since = f"since {long_date(last.date)}"
    if last.date < day:
        since += f" ({span(last.date, day)})"
    return f"On {when} {agreement.id} is {LOOKS[status].words}, {since}."


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    status: Status
    look: Look


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    segments: list[Segment]
    markers: list[tuple[int, float, int, Look]]
    """``(number, x, y, look)``: a numbered circle per event, lifted where two would touch."""
    ticks: list[tuple[float, int]]
    chosen: float
    chosen_date: dt.date
    today: float

    @property
    def chosen_label(self) -> float:
        """Where the chosen date's label sits: under its line, but inside the drawing."""
        return min(max(self.chosen, 36.0), self.width - 36.0)


TIMELINE_WIDTH = 720
_PAD = 16


def timeline(agreement: Agreement, day: dt.date, today: dt.date) -> Timeline | None:
    """A horizontal bar: one coloured segment per status, from the first event to today."""
    if not agreement.events:
        return None
    start = agreement.events[0].date
    end = max(today, day, agreement.events[-1].date)
    start = min(start, day)
    first_year, last_year = start.year, end.year + 1
    origin = dt.date(first_year, 1, 1)
    days = (dt.date(last_year, 1, 1) - origin).days
    inner = TIMELINE_WIDTH - 2 * _PAD

    def x(d: dt.date) -> float:
        return round(_PAD + inner * (d - origin).days / days, 1)

    segments = []
    for i, event in enumerate(agreement.events):
        until = agreement.events[i + 1].date if i + 1 < len(agreement.events) else end
        segments.append(
            Segment(
                x(event.date),
                max(x(until) - x(event.date), 1.0),
                event.status,
                LOOKS[event.status],
            )
        )
    step = max(1, (last_year - first_year) // 10)
    ticks = [(x(dt.date(y, 1, 1)), y) for y in range(first_year, last_year + 1, step)]
    markers: list[tuple[int, float, int, Look]] = []
    for n, event in enumerate(agreement.events, 1):
        at = x(event.date)
        lift = 0
        while lift < 2 and any(abs(at - m[1]) < 18 and m[2] == 44 - 20 * lift for m in markers):
            lift += 1
        markers.append((n, at, 44 - 20 * lift, LOOKS[event.status]))
    return Timeline(TIMELINE_WIDTH, 108, segments, markers, ticks, x(day), day, x(today))
