"""Security categories as a node stores them (docs/decision.md, "Categories"): on a user,
those it holds; on an item, those its label carries. Both are a JSON object of tag name ->
category names in a ``categories`` column, NULL for none (so that a row without any is
signed, stored and decided exactly as a row of before).

Light to import: the CLI parses ``--category TAG=VALUE`` with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from gsoia.errors import Problem, RequestError

Held = tuple[tuple[str, tuple[str, ...]], ...]
"""Categories by tag, frozen (a user's, hashable with it)."""


def frozen(categories: Mapping[str, Sequence[str]] | None) -> Held:
    """Categories as ``Held``: the tags in the order given, those without a value left out."""
    if not categories:
        return ()
    return tuple((tag, tuple(values)) for tag, values in categories.items() if values)


def as_dict(held: Held) -> dict[str, list[str]]:
    """``Held`` categories as a decision takes them."""
    return {tag: list(values) for tag, values in held}


def to_column(categories: Mapping[str, Sequence[str]] | None) -> str | None:
    """Categories as the column stores them: JSON, or None for none."""
    if not categories:
        return None
    return json.dumps({tag: list(values) for tag, values in categories.items()})


def from_column(text: str | None) -> dict[str, list[str]] | None:
    """The categories a column holds (None: none); ``ValueError`` or ``TypeError`` if the
    column does not hold an object of lists of names (edited behind the node's back)."""
    if text is None:
        return None
    return {tag: list(values) for tag, values in _parsed(text)}


@lru_cache(maxsize=1024)
def _parsed(text: str) -> Held:
    """Parsed once: few sets of categories are distinct."""
    value = json.loads(text)
    if type(value) is not dict or not all(
        type(values) is list and all(type(v) is str for v in values) for values in value.values()
    ):
        raise ValueError("categories: not an object of lists of names")
    return tuple((str(tag), tuple(values)) for tag, values in value.items())


def from_options(given: Iterable[str], place: str = "--category") -> dict[str, list[str]]:
    """``TAG=VALUE`` options (repeatable) as categories; ``RequestError`` naming each that
    is not of that form."""
    found: dict[str, list[str]] = {}
    problems = []
    for i, text in enumerate(given):
        tag, sep, value = text.partition("=")
        tag, value = tag.strip(), value.strip()
        if not sep or not tag or not value:
            problems.append(Problem(f"{place}[{i}]", f"'{text}' is not TAG=VALUE"))
            continue
        values = found.setdefault(tag, [])
        if value not in values:
            values.append(value)
    if problems:
        raise RequestError(problems)
    return found


def shown(categories: Mapping[str, Sequence[str]] | None) -> str:
    """Categories in one line (``Sensitivity: ATOMAL; Releasable To: JPN, CHE``)."""
    return "; ".join(f"{tag}: {', '.join(values)}" for tag, values in (categories or {}).items())
