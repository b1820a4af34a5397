"""gsoia: General Security of Information Agreements, executable.

The Python API (docs/interfaces.md, "Python API")::

    import gsoia
    cat = gsoia.load_catalogue()            # the bundled catalogue
    cat = gsoia.load_catalogue("my.yaml")   # or a file; CatalogueError on bad input
    d = cat.decide(request)                 # docs/decision.md §2 -> §4
    table = cat.label_table(labels)
    allowed = cat.decide_many(subject, table, at=None)

The catalogue and decision names load when first used (``import gsoia`` alone does not
import pydantic, YAML or numpy), so that ``gsoia --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsoia.errors import CatalogueError, GsoiaError, InputError, Problem, RequestError

if TYPE_CHECKING:
    from gsoia.catalogue import Catalogue
    from gsoia.decision import Decision, LabelTable, Marking, Reason, Rulebook

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

_LAZY = {
    "Catalogue": "gsoia.catalogue",
    "Decision": "gsoia.decision",
    "LabelTable": "gsoia.decision",
    "Marking": "gsoia.decision",
    "Reason": "gsoia.decision",
    "Rulebook": "gsoia.decision",
}


def __getattr__(name: str) -> Any:
    """The catalogue's and the decision's names, imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gsoia' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def today_utc() -> dt.date:
    """Today's date in UTC: the default date of a decision."""
    return dt.datetime.now(dt.UTC).date()


def load_catalogue(path: str | Path | None = None) -> Rulebook:
    """The bundled catalogue, or one from a YAML or JSON file, ready to decide.

    Raises:
        CatalogueError: the file is missing, unreadable or invalid; nothing is loaded.
    """
    from gsoia.catalogue import read_catalogue
    from gsoia.decision import Rulebook

    return Rulebook(read_catalogue(path), today=today_utc)
