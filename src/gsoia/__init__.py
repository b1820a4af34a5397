"""gsoia: General Security of Information Agreements, executable.

The Python API of INTERFACES.md::

    import gsoia
    cat = gsoia.load_catalogue()            # the bundled catalogue
    cat = gsoia.load_catalogue("my.yaml")   # or a file; CatalogueError on bad input
    d = cat.decide(request)                 # DECISION.md §2 -> §4
    table = cat.label_table(labels)
    allowed = cat.decide_many(subject, table, at=None)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gsoia.catalogue import Catalogue, read_catalogue
from gsoia.decision import Decision, LabelTable, Marking, Reason, Rulebook
from gsoia.errors import CatalogueError, GsoiaError, InputError, Problem, RequestError

__version__ = "0.1.0"

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Decision",
    "GsoiaError",
    "InputError",
    "LabelTable",
    "Marking",
    "Problem",
    "Reason",
    "RequestError",
    "Rulebook",
    "__version__",
    "load_catalogue",
    "today_utc",
]


def today_utc() -> dt.date:
    """Today's date in UTC: the default date of a decision."""
    return dt.datetime.now(dt.UTC).date()


def load_catalogue(path: str | Path | None = None) -> Rulebook:
    """The bundled catalogue, or one from a YAML or JSON file, ready to decide.

    Raises:
        CatalogueError: the file is missing, unreadable or invalid; nothing is loaded.
    """
    return Rulebook(read_catalogue(path), today=today_utc)
