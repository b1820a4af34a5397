"""Fuzzing the three parsers that read what others write, with a fixed budget.

* the catalogue loader (``parse_catalogue``, ``read_catalogue``, ``catalogue_from_document``)
  raises ``CatalogueError`` and nothing else;
* the package parser and opener (``parse_package``, ``open_package``, ``check_grant``)
  raise ``PackageRejected`` and nothing else;
* the label parser (``Rulebook.label_table``, ``decide``, ``decide_many``) raises
  ``RequestError`` and nothing else.

Each gets arbitrary input (text, bytes, JSON-like values), valid input mutated (a valid
catalogue, a package made by ``make_package``, a well-formed request), and the classics
written out: 100,000 levels of nesting, invalid UTF-8, numbers too large for anything.

The budget is ``EXAMPLES`` per property (300 with ``HYPOTHESIS_PROFILE=thorough``, a third
under ``make test``: ``tests/budget.py``; ``GSOIA_FUZZ_EXAMPLES`` to set it, for a soak
run), derandomized so that a run is reproducible; with ``GSOIA_FUZZ_EXAMPLES`` set, runs
are random. ``atheris`` (coverage-guided) runs the same three targets at the end of this
file, in subprocesses, for a fixed number of runs each.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gsoia
from gsoia.catalogue.load import catalogue_from_document, parse_catalogue, read_catalogue
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import sign
from gsoia.errors import CatalogueError, GsoiaError, RequestError
from gsoia.federation.packages import (
    Kind,
    Package,
    PackageRejected,
    b64,
    check_grant,
    make_grant,
    make_package,
    open_package,
    parse_package,
    signed_bytes,
)
from tests.budget import examples

T = TypeVar("T")
E = TypeVar("E", bound=Exception)

EXAMPLES = int(os.environ.get("GSOIA_FUZZ_EXAMPLES", str(examples(300))))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="GSOIA_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DEEP = 100_000
HUGE = "9" * 5000
"""More digits than Python converts to an int by default (4300)."""

RULEBOOK = gsoia.load_catalogue()
CATALOGUE = RULEBOOK.catalogue
NAMES = sorted(CATALOGUE.names_known)
LEVELS = sorted({level for policy in CATALOGUE.policies.values() for level in policy.ranks})
TOPICS = ["maritime", "nuclear", "cyber", "t' OR '1'='1"]


def only(allowed: type[Exception], call: Callable[[], T]) -> T | None:
    """``call()``'s value, or None if it raised ``allowed``: anything else propagates."""
    try:
        return call()
    except allowed:
        return None


# -- values -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**53 - 2, max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "\x00", "\ud800", "a\udfffb", "%00", "../../etc/passwd", "'; --"])
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
"""Anything json.loads can give (and lone surrogates, which it gives too)."""
yaml_like = st.recursive(
    scalars | st.dates() | st.datetimes() | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.dates(), inner, max_size=4)
    ),
    max_leaves=25,
)
"""Anything a YAML document can give (dates, binary, non-text keys)."""


def nested(depth: int, leaf: Any = None) -> Any:
    """``depth`` levels of lists around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_dict(depth: int, leaf: Any = None) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def mutate(data: st.DataObject, value: Any, replacements: st.SearchStrategy[Any]) -> Any:
    """``value`` with one thing changed somewhere inside: a value replaced, a key removed or
    added, an element removed or repeated."""
    if not isinstance(value, dict | list) or not value or data.draw(st.integers(0, 3)) == 0:
        return data.draw(replacements)
    if isinstance(value, dict):
        key = data.draw(st.sampled_from(sorted(value, key=repr)))
        action = data.draw(st.sampled_from(["into", "into", "drop", "add", "rename"]))
        changed = dict(value)
        if action == "into":
            changed[key] = mutate(data, value[key], replacements)
        elif action == "drop":
            del changed[key]
        elif action == "add":
            changed[data.draw(st.text(max_size=10))] = data.draw(replacements)
        else:
            changed[data.draw(st.text(max_size=10))] = changed.pop(key)
        return changed
    index = data.draw(st.integers(0, len(value) - 1))
    action = data.draw(st.sampled_from(["into", "into", "drop", "repeat"]))
    items = list(value)
    if action == "into":
        items[index] = mutate(data, items[index], replacements)
    elif action == "drop":
        del items[index]
    else:
        items.insert(index, copy.deepcopy(items[index]))
    return items


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    """``raw`` with a few bytes flipped, dropped, inserted or a slice repeated."""
    buffer = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, max(len(buffer) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "drop", "insert", "repeat", "cut"]))
        if action == "flip" and buffer:
            buffer[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "drop" and buffer:
            del buffer[at : at + data.draw(st.integers(1, 8))]
        elif action == "insert":
            buffer[at:at] = data.draw(
                st.binary(min_size=1, max_size=8)
                | st.sampled_from([b"\xff", b"\xc0\xae", b"\\u0000", b'"', b"[", b"{", b"1e999"])
            )
        elif action == "repeat":
            buffer[at:at] = buffer[at : at + data.draw(st.integers(1, 64))]
        else:
            del buffer[at:]
    return bytes(buffer)


# -- the catalogue loader -------------------------------------------------------------------

BUNDLED_TEXT = resources.files("gsoia.catalogue.data").joinpath("default.yaml").read_text("utf-8")
BUNDLED: dict[str, Any] = yaml.safe_load(BUNDLED_TEXT)
_KEEP = {"JPN", "USA", "CAN"}
SMALL: dict[str, Any] = {
    "policies": {k: v for k, v in BUNDLED["policies"].items() if k in _KEEP},
    "groups": {"FVEY": ["CAN", "USA"]},
    "agreements": [a for a in BUNDLED["agreements"] if set(a["parties"]) <= _KEEP],
}
"""A valid catalogue of three policies and two agreements (quick to parse as YAML)."""
SMALL_YAML = yaml.safe_dump(SMALL, allow_unicode=True, sort_keys=False)
SMALL_JSON = json.dumps(SMALL, default=str, ensure_ascii=False)


def test_the_catalogues_mutated_here_are_valid() -> None:
    assert catalogue_from_document(copy.deepcopy(BUNDLED)) is not None
    assert parse_catalogue(SMALL_YAML) is not None
    assert parse_catalogue(SMALL_JSON, is_json=True) is not None


def load_text(text: str) -> None:
    only(CatalogueError, lambda: parse_catalogue(text))
    only(CatalogueError, lambda: parse_catalogue(text, is_json=True))


@FUZZ
@given(st.text())
def test_catalogue_from_arbitrary_text(text: str) -> None:
    load_text(text)


@FUZZ
@given(st.data())
def test_catalogue_from_mutated_text(data: st.DataObject) -> None:
    """Bytes of the valid catalogue changed, then decoded as the loader's caller would."""
    for source in (SMALL_YAML, SMALL_JSON):
        mutated = mutate_bytes(data, source.encode()).decode("utf-8", errors="replace")
        load_text(mutated)


@FUZZ
@given(st.dictionaries(st.sampled_from(["policies", "groups", "agreements"]), yaml_like))
def test_catalogue_from_arbitrary_documents(document: dict[str, Any]) -> None:
    only(CatalogueError, lambda: catalogue_from_document(document))


@FUZZ
@given(st.data())
def test_catalogue_from_mutated_documents(data: st.DataObject) -> None:
    """The bundled catalogue with 1 to 3 changes anywhere in it: checked, and the same
    document written as YAML and as JSON, parsed and checked."""
    document: Any = copy.deepcopy(BUNDLED)
    for _ in range(data.draw(st.integers(1, 3))):
        document = mutate(data, document, yaml_like)
    only(CatalogueError, lambda: catalogue_from_document(document))
    try:
        text = json.dumps(document, default=str, ensure_ascii=False)
    except (ValueError, TypeError):  # a key json cannot write (a date, None …)
        return
    only(CatalogueError, lambda: parse_catalogue(text, is_json=True))


@FUZZ
@given(st.binary(), st.sampled_from([".yaml", ".json", ".yml", ""]))
def test_catalogue_file_of_arbitrary_bytes(scratch: Path, raw: bytes, suffix: str) -> None:
    path = scratch / f"catalogue{suffix}"
    path.write_bytes(raw)
    only(CatalogueError, lambda: read_catalogue(path))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    + "policies: {JPN: {name: x, levels: *h}}\n"
)
"""9**8 (43 million) elements, if anything expanded the aliases."""

CATALOGUE_CLASSICS: list[tuple[str, str, bool]] = [
    ("[ x100000 (YAML)", "[" * DEEP, False),
    ("[] x100000 (YAML)", "[" * DEEP + "]" * DEEP, False),
    ("{a: x100000 (YAML)", "{a: " * DEEP + "}" * DEEP, False),
    ("- x10000 block (YAML)", "".join(" " * i + "-\n" for i in range(0, 20_000, 2)), False),
    ("[ x100000 (JSON)", "[" * DEEP, True),
    ('{"a": x100000 (JSON)', '{"a": ' * DEEP + "1" + "}" * DEEP, True),
    ("5000-digit integer (YAML)", f"policies: {HUGE}\n", False),
    ("5000-digit integer (JSON)", f'{{"policies": {HUGE}}}', True),
    ("5000-digit key (YAML)", f"policies:\n  {HUGE}: x\n", False),
    ("1e999 (YAML)", "policies: 1e999\n", False),
    ("-1e999 (JSON)", '{"policies": -1e999}', True),
    ("NaN, Infinity (JSON)", '{"policies": NaN, "groups": Infinity}', True),
    ("5000-digit float (JSON)", f'{{"policies": 0.{HUGE}e{HUGE}}}', True),
    ("a level of 5000 digits", SMALL_YAML.replace("id: HI", f"id: {HUGE}"), False),
    ("a date in year 0", "policies: 0000-01-01\n", False),
    ("a date of day 31 February", "policies: 2025-02-31\n", False),
    ("a recursive alias", "a: &a [*a]\n", False),
    ("an alias bomb", ALIAS_BOMB, False),
    ("a python tag", "a: !!python/object/apply:os.system ['true']\n", False),
    ("NUL", "policies: \x00\n", False),
    ("a lone surrogate", "policies: \ud800\n", False),
    ("a lone surrogate escaped (JSON)", '{"policies": {"\\ud800": {}}}', True),
    ("BOM then JSON", "\ufeff" + SMALL_JSON, True),
    ("repeated keys (JSON)", '{"policies": {}, "policies": {}}', True),
]


@pytest.mark.parametrize(
    ("text", "is_json"),
    [(t, j) for _, t, j in CATALOGUE_CLASSICS],
    ids=[n for n, _, _ in CATALOGUE_CLASSICS],
)
def test_catalogue_classics(text: str, is_json: bool) -> None:
    with pytest.raises(CatalogueError):
        parse_catalogue(text, is_json=is_json)


def test_catalogue_documents_nested_100000_deep() -> None:
    for document in (
        {"policies": nested(DEEP)},
        {"policies": {"JPN": {"levels": nested(DEEP)}}},
        {"policies": {}, "agreements": [nested_dict(DEEP)]},
        {"policies": {"JPN": nested_dict(DEEP)}},
    ):
        with pytest.raises(CatalogueError):
            catalogue_from_document(document)


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\xfd", b"policies:\n  JPN: \xc0\xae\n", b"\xed\xa0\x80", b"\xef\xbb\xbf\xff"],
    ids=["bytes FF FE FD", "overlong dot", "UTF-8 surrogate", "BOM then FF"],
)
def test_catalogue_file_of_invalid_utf8(tmp_path: Path, raw: bytes) -> None:
    for suffix in (".yaml", ".json"):
        path = tmp_path / f"catalogue{suffix}"
        path.write_bytes(raw)
        with pytest.raises(CatalogueError):
            read_catalogue(path)


@pytest.mark.parametrize(
    "path", ["a\x00b.yaml", "\ud800.yaml", "x" * 5000, "/dev/null", "/proc/self/mem", "."]
)
def test_catalogue_path_that_is_no_file(path: str) -> None:
    """``load_catalogue(path)``: CatalogueError on bad input, whatever the path holds."""
    with pytest.raises(CatalogueError):
        read_catalogue(path)


# -- the package parser and opener ----------------------------------------------------------

KEYS = NodeKeys.generate()
KEY: Ed25519PrivateKey = KEYS.signing
PEERS = {"CAN": KEYS.public().signing}
NOW = dt.datetime.now(dt.UTC)


def valid_package(
    kind: Kind = Kind.RECLASSIFY, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    return make_package(
        KEY, kind, "CAN", "JPN", body or {"item": "an-item", "classification": "S"}, NOW
    )


def opened(raw: bytes) -> Package | None:
    return only(PackageRejected, lambda: open_package(raw, me="JPN", peer_keys=PEERS, now=NOW))


def resign(package: Any) -> bytes:
    """A package as its sender signs it (whatever it holds): the signature is good."""
    if not isinstance(package, dict):
        return json.dumps(package).encode()
    unsigned = {k: v for k, v in package.items() if k != "signature"}
    try:
        signature = b64(sign(KEY, signed_bytes(unsigned)))
    except (TypeError, ValueError):  # outside the signed subset: sent as it is
        return json.dumps(package).encode("utf-8", errors="surrogatepass")
    return json.dumps(unsigned | {"signature": signature}).encode("utf-8", errors="surrogatepass")


offsets = st.timedeltas(
    min_value=-dt.timedelta(hours=23, minutes=59), max_value=dt.timedelta(hours=23, minutes=59)
).map(dt.timezone)
"""Fixed UTC offsets (no time zone database needed)."""


def test_the_packages_mutated_here_open() -> None:
    assert opened(json.dumps(valid_package()).encode()) is not None


@FUZZ
@given(st.binary(max_size=4000))
def test_package_from_arbitrary_bytes(raw: bytes) -> None:
    only(PackageRejected, lambda: parse_package(raw))
    opened(raw)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "gsoia": st.just(1) | json_like,
            "id": st.text(max_size=70) | json_like,
            "kind": st.sampled_from([k.value for k in Kind]) | json_like,
            "from": st.sampled_from(["CAN", "JPN", "USA"]) | json_like,
            "to": st.sampled_from(["JPN", "CAN"]) | json_like,
            "created": st.datetimes(timezones=offsets).map(dt.datetime.isoformat) | json_like,
            "body": st.dictionaries(st.text(max_size=10), json_like) | json_like,
            "signature": st.text(max_size=100) | json_like,
        },
    )
)
def test_package_of_arbitrary_fields(package: dict[str, Any]) -> None:
    """As sent, and as signed by the pinned sender's key (so every check runs)."""
    raw = json.dumps(package).encode("utf-8", errors="surrogatepass")
    opened(raw)
    opened(resign(package))


@FUZZ
@given(st.data(), st.sampled_from(list(Kind)))
def test_package_mutated_in_transit(data: st.DataObject, kind: Kind) -> None:
    """A valid package, changed after it was signed: refused, never a crash."""
    original = valid_package(kind)
    package = mutate(data, original, json_like)
    try:
        raw = json.dumps(package).encode("utf-8", errors="surrogatepass")
    except ValueError:  # a float json cannot write: it cannot travel either
        return
    accepted = opened(raw)
    if accepted is not None:  # only if what is signed is unchanged (e.g. 1 replaced by 1)
        unsigned = {k: v for k, v in original.items() if k != "signature"}
        assert signed_bytes(accepted.unsigned()) == signed_bytes(unsigned), package


@FUZZ
@given(st.data(), st.sampled_from(list(Kind)))
def test_package_mutated_then_signed(data: st.DataObject, kind: Kind) -> None:
    """A valid package changed by its sender, then signed: what is behind the signature
    (the timestamp, the signed JSON subset, the body's shape) is checked, never a crash."""
    opened(resign(mutate(data, valid_package(kind), json_like)))


@FUZZ
@given(st.data())
def test_package_bytes_mutated(data: st.DataObject) -> None:
    opened(mutate_bytes(data, json.dumps(valid_package()).encode()))


@FUZZ
@given(json_like | st.dictionaries(st.sampled_from(["item", "originator", "custodian", "to",
                                                    "granted_by", "granted_at", "signature"]),
                                   json_like))  # fmt: skip
def test_consent_grant_of_arbitrary_values(grant: Any) -> None:
    only(PackageRejected, lambda: check_grant(grant, PEERS["CAN"]))


@FUZZ
@given(st.data())
def test_consent_grant_mutated(data: st.DataObject) -> None:
    grant = make_grant(
        KEY,
        item="an-item",
        originator="CAN",
        custodian="JPN",
        to="USA",
        granted_by="can-officer",
        granted_at=NOW.isoformat(),
    )
    only(PackageRejected, lambda: check_grant(mutate(data, grant, json_like), PEERS["CAN"]))


def _package_text(**fields: str | bytes) -> bytes:
    """A valid package's JSON with some fields' JSON replaced by ``fields`` (written out)."""
    package = valid_package()
    raw = json.dumps(package).encode()
    for name, value in fields.items():
        was = f'"{name}": {json.dumps(package[name])}'.encode()
        assert was in raw
        raw = raw.replace(
            was, f'"{name}": '.encode() + (value if isinstance(value, bytes) else value.encode())
        )
    return raw


PACKAGE_CLASSICS: list[tuple[str, bytes]] = [
    ("[ x100000", b"[" * DEEP),
    ("[] x100000", b"[" * DEEP + b"]" * DEEP),
    ('{"a": x100000', b'{"a": ' * DEEP + b"1" + b"}" * DEEP),
    ("body nested 100000 deep", _package_text(body='{"a": ' * DEEP + "1" + "}" * DEEP)),
    ("invalid UTF-8", b'{"gsoia": 1, "id": "\xff\xfe"}'),
    ("invalid UTF-8 in a valid package", _package_text(id=b'"\xc0\xae"')),
    ("lone surrogate", _package_text(id='"\\ud800"')),
    ("NUL escaped", _package_text(id='"a\\u0000b"')),
    ("gsoia a 5000-digit integer", _package_text(gsoia=HUGE)),
    ("gsoia 1e999", _package_text(gsoia="1e999")),
    ("gsoia NaN", _package_text(gsoia="NaN")),
    ("body of huge numbers", _package_text(body=f'{{"item": {HUGE[:4000]}, "x": -1e999}}')),
    ("created in year 0", _package_text(created='"0000-01-01T00:00:00+00:00"')),
    ("created at the end of time", _package_text(created='"9999-12-31T23:59:59.999999-23:59"')),
    ("created at the start of time", _package_text(created='"0001-01-01T00:00:00+23:59"')),
    ("repeated keys", b'{"gsoia": 1, "gsoia": 1, "id": "x"}'),
    ("empty", b""),
    ("whitespace", b" \t\r\n"),
]


PACKAGE_ODDITIES: list[tuple[str, bytes]] = [
    ("UTF-16", json.dumps(valid_package()).encode("utf-16")),
    ("UTF-32", json.dumps(valid_package()).encode("utf-32")),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + json.dumps(valid_package()).encode()),
    ("gsoia 1.0", _package_text(gsoia="1.0")),
    ("gsoia true", _package_text(gsoia="true")),
    ("id escaped", _package_text(id='"' + "".join(f"\\u{ord(c):04x}" for c in "abc") + '"')),
]
"""Written otherwise than signed, but meaning what was signed (the signature is over the
canonical form of what was read): accepted or refused, and never anything else."""


@pytest.mark.parametrize(
    "raw", [r for _, r in PACKAGE_ODDITIES], ids=[n for n, _ in PACKAGE_ODDITIES]
)
def test_package_oddities(raw: bytes) -> None:
    accepted = opened(raw)
    if accepted is not None:
        unsigned = {k: v for k, v in valid_package().items() if k not in ("signature", "id")}
        assert {k: v for k, v in accepted.unsigned().items() if k != "id"} == unsigned


@pytest.mark.parametrize(
    "raw", [r for _, r in PACKAGE_CLASSICS], ids=[n for n, _ in PACKAGE_CLASSICS]
)
def test_package_classics(raw: bytes) -> None:
    with pytest.raises(PackageRejected):
        open_package(raw, me="JPN", peer_keys=PEERS, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        {"x": 1.5},
        {"x": 2**53},
        {"x": -(2**53)},
        {"x": 10**100},
        {"x": math.inf},
        {"x": math.nan},
        {"x": "\ud800"},
        {"\ud800": 1},
        {"x": nested_dict(DEEP)},
    ],
    ids=["float", "2**53", "-2**53", "10**100", "inf", "nan", "surrogate", "surrogate key", "deep"],
)
def test_package_signed_outside_the_signed_subset(body: dict[str, Any]) -> None:
    """What canonical JSON cannot sign arrives signed (over other bytes): refused."""
    package = valid_package() | {"body": body}
    try:
        raw = json.dumps(package).encode("utf-8", errors="surrogatepass")
    except RecursionError:
        raw = _package_text(body='{"x": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}")
    with pytest.raises(PackageRejected):
        open_package(raw, me="JPN", peer_keys=PEERS, now=NOW)


# -- the label parser -----------------------------------------------------------------------

name = st.sampled_from(NAMES) | st.sampled_from(LEVELS) | st.text(max_size=12) | json_like
names = st.lists(st.sampled_from(NAMES) | st.text(max_size=8), max_size=4) | json_like
LABEL_FIELDS = {
    "originator": name,
    "classification": name,
    "area": st.sampled_from(["maritime", None]) | name,
    "releasable_to": names,
    "need_to_know": st.lists(st.sampled_from(TOPICS), max_size=3) | names,
    "custodian": name,
    "consented_to": names,
}
labels = st.fixed_dictionaries(
    {"originator": st.sampled_from(NAMES), "classification": st.sampled_from(LEVELS)},
    optional={k: v for k, v in LABEL_FIELDS.items() if k not in ("originator", "classification")},
) | st.dictionaries(st.sampled_from(sorted(LABEL_FIELDS)) | st.text(max_size=8), json_like)
subjects = st.fixed_dictionaries(
    {"nation": st.sampled_from(NAMES)},
    optional={
        "id": st.text(max_size=20) | json_like,
        "clearance": st.sampled_from(LEVELS) | name,
        "clearance_expires": st.dates().map(str) | st.dates() | json_like,
        "need_to_know": st.lists(st.sampled_from(TOPICS), max_size=3) | names,
    },
) | st.dictionaries(st.text(max_size=8), json_like)
decision_requests = st.fixed_dictionaries(
    {"subject": subjects, "label": labels},
    optional={
        "custodian": name,
        "consented_to": names,
        "at": st.dates().map(str) | st.dates() | st.datetimes() | json_like,
    },
) | st.dictionaries(st.sampled_from(["subject", "label", "at"]) | st.text(max_size=8), json_like)


@FUZZ
@given(st.lists(labels, max_size=8))
def test_label_table_of_arbitrary_labels(given_labels: list[dict[str, Any]]) -> None:
    """A table is built or the labels refused; a table built is decided over."""
    table = only(RequestError, lambda: RULEBOOK.label_table(given_labels))
    if table is not None:
        allowed = RULEBOOK.decide_many({"nation": "CAN", "clearance": "TS"}, table)
        assert len(allowed) == len(given_labels)


@FUZZ
@given(
    st.lists(json_like, max_size=5)
    | st.tuples(json_like, json_like)
    | st.dictionaries(st.text(max_size=8), json_like)
    | st.text(max_size=5)
)
def test_label_table_of_arbitrary_values(values: Any) -> None:
    """Not even a list of dicts, but iterable: refused as a RequestError too. (Something
    that is not iterable at all, ``None`` or ``5``, is no input but a caller's bug: Python's
    TypeError says so.)"""
    only(RequestError, lambda: RULEBOOK.label_table(values))


@FUZZ
@given(decision_requests)
def test_decide_arbitrary_requests(request: dict[str, Any]) -> None:
    decision = only(RequestError, lambda: RULEBOOK.decide(request))
    if decision is not None:
        json.dumps(decision.to_dict())  # what a decision says is JSON


@FUZZ
@given(st.data())
def test_decide_mutated_requests(data: st.DataObject) -> None:
    valid = {
        "subject": {"nation": "CAN", "clearance": "S", "need_to_know": ["maritime"]},
        "label": {"originator": "JPN", "classification": "GOKUHI", "releasable_to": ["CAN"]},
        "at": "2026-01-01",
    }
    assert RULEBOOK.decide(valid).allow
    only(RequestError, lambda: RULEBOOK.decide(mutate(data, valid, json_like)))


@FUZZ
@given(subjects | json_like, st.lists(labels | json_like, max_size=5))
def test_decide_many_arbitrary(subject: Any, given_labels: list[Any]) -> None:
    only(RequestError, lambda: RULEBOOK.decide_many(subject, given_labels))


LABEL = {"originator": "JPN", "classification": "GOKUHI"}
REQUEST_CLASSICS: list[tuple[str, Any]] = [
    ("subject nested 100000 deep", {"subject": nested(DEEP), "label": LABEL}),
    ("label nested 100000 deep", {"subject": {"nation": "CAN"}, "label": nested_dict(DEEP)}),
    ("nation nested 100000 deep", {"subject": {"nation": nested(DEEP)}, "label": LABEL}),
    ("need_to_know nested 100000 deep",
     {"subject": {"nation": "CAN", "need_to_know": nested(DEEP)}, "label": LABEL}),
    ("a huge integer", {"subject": {"nation": 10**4000}, "label": LABEL}),
    ("a huge integer date", {"subject": {"nation": "CAN"}, "label": LABEL, "at": 10**4000}),
    ("a date in year 0", {"subject": {"nation": "CAN"}, "label": LABEL, "at": "0000-01-01"}),
    ("a date-time", {"subject": {"nation": "CAN"}, "label": LABEL, "at": dt.datetime.now()}),
    ("inf", {"subject": {"nation": "CAN"}, "label": LABEL | {"area": math.inf}}),
    ("nan", {"subject": {"nation": math.nan}, "label": LABEL}),
    ("bytes", {"subject": {"nation": b"CAN"}, "label": LABEL}),
    ("invalid UTF-8 as bytes", {"subject": {"nation": "CAN"}, "label": LABEL | {"area": b"\xff"}}),
    ("a lone surrogate", {"subject": {"nation": "CAN", "id": "\ud800"}, "label": LABEL}),
    ("a 100000-character name", {"subject": {"nation": "C" * DEEP}, "label": LABEL}),
    ("None", None),
    ("a list", [LABEL]),
    ("a string", "subject"),
]  # fmt: skip


@pytest.mark.parametrize(
    "request_", [r for _, r in REQUEST_CLASSICS], ids=[n for n, _ in REQUEST_CLASSICS]
)
def test_decide_classics(request_: Any) -> None:
    with pytest.raises(RequestError):
        RULEBOOK.decide(request_)


@pytest.mark.parametrize(
    "request_", [r for _, r in REQUEST_CLASSICS], ids=[n for n, _ in REQUEST_CLASSICS]
)
def test_label_table_classics(request_: Any) -> None:
    labels_ = (
        [request_.get("label"), request_["subject"]] if isinstance(request_, dict) else [request_]
    )
    with pytest.raises(RequestError):
        RULEBOOK.label_table(labels_)


# -- refusals are one line --------------------------------------------------------------------


def refusal(allowed: type[E], call: Callable[[], object]) -> E | None:
    """The ``allowed`` error ``call()`` raised, if it did."""
    try:
        call()
    except allowed as e:
        return e
    return None


def one_line(error: GsoiaError | None) -> None:
    if error is not None:
        text = error.diagnostics()
        assert "\n" not in text, text
        assert "\r" not in text, text


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_catalogue_refusals_are_one_line(text: str) -> None:
    """The CLI prints ``diagnostics()`` as its one line (docs/interfaces.md: errors are one clear
    line): no line break in it, whatever the input held."""
    one_line(refusal(CatalogueError, lambda: parse_catalogue(text)))
    one_line(refusal(CatalogueError, lambda: parse_catalogue(text, is_json=True)))


@FUZZ
@given(decision_requests)
def test_request_refusals_are_one_line(request: dict[str, Any]) -> None:
    one_line(refusal(RequestError, lambda: RULEBOOK.decide(request)))


@pytest.mark.parametrize("value", ["\n", "a\r\nb", "\u2028", "\x00", "\ud800"])
def test_a_line_break_in_a_quoted_value_is_escaped(value: str) -> None:
    """Found by the fuzzer: a clearance of '\\n' was quoted raw, breaking the one line."""
    request = {
        "subject": {"id": "u", "nation": "AUS", "clearance": value},
        "label": {"originator": "JPN", "classification": "HI"},
    }
    error = refusal(RequestError, lambda: RULEBOOK.decide(request))
    assert error is not None
    one_line(error)
    assert "\u2028" not in error.diagnostics()
    assert "\x00" not in error.diagnostics()


# -- atheris: coverage-guided, the same three targets -----------------------------------------

ATHERIS_RUNS = int(os.environ.get("GSOIA_ATHERIS_RUNS", "20000"))


@pytest.mark.parametrize("target", ["catalogue", "package", "request"])
def test_atheris(tmp_path: Path, target: str) -> None:
    """``tests/hostile/atheris_targets.py TARGET -runs=N`` exits 0: no input made the
    target raise anything but its own error (atheris reports the input that did)."""
    pytest.importorskip("atheris", reason="atheris is in the test extra; not installed here")
    harness = Path(__file__).with_name("atheris_targets.py")
    done = subprocess.run(
        [sys.executable, str(harness), target, f"-runs={ATHERIS_RUNS}", "-seed=1",
         f"-artifact_prefix={tmp_path}/", "-max_len=4096", "-timeout=30"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
    assert done.returncode == 0, tail
    assert f"Done {ATHERIS_RUNS} runs" in done.stderr, tail
