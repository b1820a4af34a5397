"""Reading a catalogue from YAML or JSON, all or nothing.

The only I/O of the pure core: reading the catalogue file. A document is parsed, its
shape checked (``gsoia.catalogue.model``), its cross-references checked
(``gsoia.catalogue.validate``); any problem refuses the whole catalogue with a
``CatalogueError`` naming the place.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gsoia.catalogue.model import Catalogue
from gsoia.catalogue.validate import problems_of
from gsoia.errors import CatalogueError, Problem

BUNDLED = "default.yaml"


def place_of(loc: tuple[int | str, ...]) -> str:
    """``('agreements', 3, 'equivalence', 1)`` -> ``agreements[3].equivalence[1]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def problems_from_validation(
    error: ValidationError, prefix: str = "", *, echo: bool = False
) -> list[Problem]:
    """pydantic's errors as problems, each with its place, without pydantic's jargon;
    ``echo``: each naming the value given where it is a scalar."""
    problems = []
    for err in error.errors(include_url=False):
        loc = tuple(part for part in err["loc"] if not _is_union_tag(part) and part != "[key]")
        place = place_of(loc)
        if prefix:
            place = f"{prefix}.{place}" if place and not place.startswith("[") else prefix + place
        reason = _reason(err)
        given = err.get("input")
        shown = err["type"] not in ("missing", "extra_forbidden")
        if echo and shown and isinstance(given, str | int | float | bool):
            reason += f"; given {given!r}"[:200]
        problems.append(Problem(place, reason))
    return problems


_AGREEMENT = re.compile(r"^agreements\[(\d+)\]")


def with_agreement_ids(problems: list[Problem], document: dict[str, Any]) -> list[Problem]:
    """Each problem placed in an agreement naming that agreement's id too (a place by index
    alone, ``agreements[2].events[1].status``, sends the reader counting)."""
    agreements = document.get("agreements")
    entries = agreements if isinstance(agreements, list) else []
    named = []
    for problem in problems:
        found = _AGREEMENT.match(problem.place)
        index = int(found.group(1)) if found else -1
        entry = entries[index] if 0 <= index < len(entries) else None
        given = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(given, str) and given and f"'{given}'" not in problem.reason:
            problem = Problem(problem.place, f"{problem.reason} (agreement {given})")
        named.append(problem)
    return named


def _is_union_tag(part: int | str) -> bool:
    # pydantic names the branch of a union it tried ("str", "list[str]"): not a place.
    return isinstance(part, str) and (part in {"str", "list[str]"} or part.startswith("function-"))


def _reason(err: Any) -> str:
    kind, message = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown attribute"
    if kind == "missing":
        return "required, missing"
    return str(message)[0].lower() + str(message)[1:]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses repeated keys and reads only true/false as booleans.

    YAML 1.1 reads ``NO``, ``ON`` or ``Y`` as booleans; as level or policy ids they must stay
    text.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | bool | dt.date) and key is not None:
            raise CatalogueError([Problem(f"line {line}", "a key must be text")])
        if key in mapping:
            raise CatalogueError([Problem(f"line {line}", f"key '{key}' is repeated")])
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _RepeatedKey(key)
        mapping[key] = value
    return mapping


def _line_of_repeat(text: str, key: str) -> int:
    """The line of the second ``"key":`` in the text (JSON's hook knows no positions)."""
    found = list(re.finditer(re.escape(json.dumps(key)) + r"\s*:", text))
    where = found[1].start() if len(found) > 1 else 0
    return text.count("\n", 0, where) + 1


def parse_document(text: str, *, is_json: bool = False) -> Any:
    """The raw document: JSON if ``is_json``, else YAML (which also reads JSON)."""
    try:
        if is_json:
            return json.loads(text, object_pairs_hook=_no_repeats)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _RepeatedKey as e:
        line = _line_of_repeat(text, e.key)
        raise CatalogueError([Problem(f"line {line}", f"key '{e.key}' is repeated")]) from e
    except json.JSONDecodeError as e:
        raise CatalogueError(
            [Problem(f"line {e.lineno}", f"not JSON: {e.msg} (column {e.colno})")]
        ) from e
    except RecursionError as e:
        raise CatalogueError([Problem("", "nested too deeply")]) from e
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise CatalogueError([Problem("", f"not accepted: {e}")]) from e
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        place = f"line {mark.line + 1}" if mark is not None else ""
        raise CatalogueError([Problem(place, f"not YAML: {e.problem}")]) from e
    except yaml.YAMLError as e:
        raise CatalogueError([Problem("", f"not YAML: {str(e).splitlines()[0]}")]) from e


def catalogue_from_document(document: Any) -> Catalogue:
    """Check a parsed document's shape and cross-references; all or nothing."""
    if not isinstance(document, dict):
        raise CatalogueError([Problem("", "a catalogue is a mapping with 'policies'")])
    try:
        catalogue = Catalogue.model_validate(document)
    except RecursionError as e:
        raise CatalogueError([Problem("", "nested too deeply")]) from e
    except ValidationError as e:
        found = problems_from_validation(e, echo=True)
        raise CatalogueError(with_agreement_ids(found, document)) from e
    problems = problems_of(catalogue)
    if problems:
        raise CatalogueError(with_agreement_ids(problems, document))
    return catalogue


def parse_catalogue(text: str, *, is_json: bool = False) -> Catalogue:
    """A catalogue from YAML or JSON text."""
    return catalogue_from_document(parse_document(text, is_json=is_json))


@functools.cache
def _bundled() -> Catalogue:
    """The bundled catalogue, parsed once a process (YAML in pure Python: a tenth of a
    second or more, which every node opened would otherwise pay); a catalogue is frozen."""
    text = resources.files("gsoia.catalogue.data").joinpath(BUNDLED).read_text("utf-8")
    return parse_catalogue(text)


def read_catalogue(path: str | Path | None = None) -> Catalogue:
    """A catalogue from a file (``.json`` read as JSON, anything else as YAML).

    Without a path, the bundled catalogue of Japan's agreements.
    """
    if path is None:
        return _bundled()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as e:
        raise CatalogueError([Problem(str(path), "no such file")]) from e
    except UnicodeDecodeError as e:
        raise CatalogueError([Problem(str(path), f"not UTF-8 text (byte {e.start})")]) from e
    except OSError as e:
        raise CatalogueError([Problem(str(path), f"cannot be read: {e.strerror}")]) from e
    except ValueError as e:  # a NUL or a lone surrogate in the path
        raise CatalogueError([Problem(repr(str(path)), "not a usable file name")]) from e
    return parse_catalogue(text, is_json=path.suffix.lower() == ".json")
