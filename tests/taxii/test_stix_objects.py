"""STIX objects as items, without a server: the fast pattern check, timestamps, the label
extension, and the mirror's version and paging selection."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import numpy as np
import pytest
from stix2patterns.validator import run_validator

from gsoia.errors import InputError
from gsoia.node import stix
from gsoia.node.stix_index import Query, StixIndex, decode_cursor, encode_cursor
from tests.taxii.support import indicator, label

TYPES = ["ipv4-addr", "domain-name", "file", "x-custom_thing", "url", "AND", "process"]
PATHS = ["value", "name", "parent_ref.name", "hashes.MD5", "x_y", "true", "resolves_to_refs"]
VALUES = ["'198.51.100.1'", "'it''s'", "'a\\\\b'", "'q\\'x'", "''", "'é 日本'", "'unterminated"]


def patterns(count: int) -> list[str]:
    rng = random.Random(5)  # noqa: S311
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(["=", "!=", "<>", "<=", ">=", "<", ">", "LIKE", "=="])
            space = rng.choice(["", " ", "  "])
            parts.append(
                f"{rng.choice(TYPES)}:{rng.choice(PATHS)}{space}{op}{space}{rng.choice(VALUES)}"
            )
        joined = rng.choice([" AND ", " OR ", " FOLLOWEDBY ", "AND"]).join(parts)
        out.append(
            rng.choice(["[{}]", "[ {} ]", "{}", "[{}] WITHIN 5 SECONDS", "[{}"]).format(joined)
        )
    return out


def test_the_fast_pattern_check_never_accepts_what_stix2_patterns_refuses() -> None:
    fast = 0
    for pattern in patterns(600):
        if stix.simple_pattern(pattern):
            fast += 1
            assert run_validator(pattern, "2.1") == [], pattern
        assert (stix.pattern_errors(pattern) == []) == (run_validator(pattern, "2.1") == [])
    assert fast > 20  # the fast path is taken often enough to matter


def test_timestamps() -> None:
    assert stix.timestamp_us("1970-01-01T00:00:00Z") == 0
    assert stix.timestamp_us("2026-03-01T12:00:00.5Z") == stix.timestamp_us(
        "2026-03-01T12:00:00.500000Z"
    )
    assert stix.timestamp_us("2026-03-01T12:00:00.123456789Z") % 1_000_000 == 123456
    for text in ("2026-03-01", "2026-03-01T12:00:00", "2026-02-30T00:00:00Z", "x", ""):
        with pytest.raises(ValueError, match=r"timestamp|day|range"):
            stix.timestamp_us(text)
    moment = stix.timestamp_us("2026-11-27T17:49:40.758103Z")
    assert stix.format_us(moment) == "2026-11-27T17:49:40.758103Z"


_MUTATIONS: dict[str, list[Any]] = {
    "id": [
        "indicator--0c5f7d1e-9c6b-4b34-9d77-2f1d2f5cf0a1",
        "indicator--0C5F7D1E-9C6B-4B34-9D77-2F1D2F5CF0A1",
        "indicator--{0c5f7d1e-9c6b-4b34-9d77-2f1d2f5cf0a1}",
        "indicator--0c5f7d1e9c6b4b349d772f1d2f5cf0a1",
        "indicator--0c5f7d1e-9c6b-4b34-cd77-2f1d2f5cf0a1",
        "indicator--0c5f7d1e-9c6b-4b34-0d77-2f1d2f5cf0a1",
        "malware--0c5f7d1e-9c6b-4b34-9d77-2f1d2f5cf0a1",
        "indicator--x",
        5,
    ],
    "time": [
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:00:00.1Z",
        "2026-03-01T00:00:00.123456Z",
        "2026-03-01T00:00:00.1234567Z",
        "2026-02-30T00:00:00Z",
        "2026-03-01T24:00:00Z",
        "2026-03-01T00:00:60Z",
        "2026-03-01 00:00:00Z",
        "2026-3-01T00:00:00Z",
        "2026-03-01T00:00:00+00:00",
        "\u0662\u0660\u0662\u0666-03-01T00:00:00Z",
        "0999-03-01T00:00:00Z",
        "2027-01-01T00:00:00.000Z",
        20260301,
        None,
    ],
    "pattern": [*patterns(40), "[ipv4-addr:value = '10.0.0.1']", 5, None],
    "pattern_type": ["stix", "stix", "snort", "STIX", 5, None],
    "pattern_version": ["2.1", "2.0", 2.1, "", None],
    "text": ["Beacon", "", 5, None, ["a"], True],
    "list": [["malicious-activity"], ["a", "b"], [], "a", [1], [None], None, {"a": 1}],
    "confidence": [50, 101, -1, True, "50", 5.5, None],
    "revoked": [True, False, "true", 1, None],
    "extensions": [
        {stix.EXTENSION_ID: label()},
        {stix.EXTENSION_ID: {"extension_type": "property-extension", "originator": "JPN"}},
        {stix.EXTENSION_ID: label(), "extension-definition--x": {}},
        {stix.EXTENSION_ID: label() | {"a b": 1}},
        {stix.EXTENSION_ID: label() | {"extension_type": "toplevel-property-extension"}},
        {stix.EXTENSION_ID: "JPN"},
        {},
        None,
    ],
    "extra": [
        ("x_custom", 1),
        ("kill_chain_phases", [{"kill_chain_name": "k", "phase_name": "p"}]),
        ("created_by_ref", "identity--5f1d4c1e-8a47-4c55-9b0e-6f2d0a7c3b91"),
        ("granular_markings", []),
        ("sighting_of_ref", "x"),
    ],
}
_KIND = {
    "id": "id",
    "created": "time",
    "modified": "time",
    "valid_from": "time",
    "valid_until": "time",
    "pattern": "pattern",
    "pattern_type": "pattern_type",
    "pattern_version": "pattern_version",
    "name": "text",
    "description": "text",
    "lang": "text",
    "indicator_types": "list",
    "labels": "list",
    "confidence": "confidence",
    "revoked": "revoked",
    "extensions": "extensions",
}


def mutated_indicators(count: int) -> list[dict[str, Any]]:
    """Indicators with one to four properties changed, removed or added at random."""
    rng = random.Random(7)  # noqa: S311
    out = []
    for n in range(count):
        obj = indicator(n)
        obj["pattern"] = "[ipv4-addr:value = '10.0.0.1']"
        obj["pattern_type"] = "stix"
        for _ in range(rng.randint(0, 4)):
            name = rng.choice([*_KIND, "extra", "remove"])
            if name == "extra":
                key, value = rng.choice(_MUTATIONS["extra"])
                obj[key] = value
            elif name == "remove":
                obj.pop(rng.choice(sorted(obj)), None)
            else:
                value = rng.choice(_MUTATIONS[_KIND[name]])
                if value is None:
                    obj.pop(name, None)
                else:
                    obj[name] = value
        out.append(obj)
    return out


def test_the_fast_indicator_check_never_accepts_what_stix2_refuses() -> None:
    fast = refused = 0
    for obj in mutated_indicators(1500):
        full = stix.stix2_errors(obj)
        if stix.plain_indicator(obj):
            fast += 1
            assert full is None, (obj, full)
        refused += full is not None
        assert stix.stix_errors(obj) == full
    assert fast > 150  # the fast path is taken often enough to matter
    assert refused > 150  # and the samples reach stix2's refusals
    assert stix.plain_indicator(stix.check_object(indicator(1)).object)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"spec_version": "2.0"}, "only STIX 2.1"),
        ({"type": "bundle"}, "bundle"),
        ({"id": "malware--0c5f7d1e-9c6b-4b34-9d77-2f1d2f5cf0a1"}, "not an identifier"),
        ({"extensions": {}}, "no confidentiality label"),
        ({"extensions": {stix.EXTENSION_ID: "JPN"}}, "must be an object"),
        ({"extensions": {stix.EXTENSION_ID: label() | {"extension_type": "x"}}}, "property-ext"),
        ({"extensions": {stix.EXTENSION_ID: label() | {"colour": "red"}}}, "not a property"),
        ({"extensions": {stix.EXTENSION_ID: label() | {"custodian": "CAN"}}}, "set by the node"),
        ({"modified": "yesterday"}, "timestamps"),
        ({"extensions": {stix.EXTENSION_ID: label() | {"area": "a\x00b"}}}, "NUL"),
        ({"extensions": {stix.EXTENSION_ID: label(releasable_to=("CAN\x00",))}}, "NUL"),
    ],
)
def test_objects_refused_before_the_label_is_decided(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(stix.Refused, match=reason):
        stix.check_object(indicator(1) | change)


def test_accepted_objects_are_stored_without_empty_lists() -> None:
    found = stix.check_object(indicator(1, extension=label("HI", ())))
    assert found.label == {
        "originator": "JPN",
        "classification": "HI",
        "area": "defence",
        "releasable_to": [],
        "need_to_know": [],
    }
    assert found.object["extensions"][stix.EXTENSION_ID] == {
        "extension_type": "property-extension",
        "originator": "JPN",
        "classification": "HI",
        "area": "defence",
    }
    assert found.title == "Patrol craft beacon 1"
    assert found.version == "2026-03-01T00:00:00.000Z"
    stix.validate(found)
    observable = {
        "type": "ipv4-addr",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
        "value": "198.51.100.3",
        "extensions": {stix.EXTENSION_ID: label()},
    }
    found = stix.check_object(observable)  # spec_version is optional on an observable
    assert (found.title, found.version) == ("ipv4-addr", None)
    stix.validate(found)


def _stored_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"description": 'Über \u00e9t\u00e9 "quoted" \\ \u2028 \U0001f600'},
        {"description": stix._SLOT},  # the slot's own text: written whole, not filled
        {"x_slot": {"extensions": stix._SLOT}, "labels": [stix._SLOT, "b"]},
        {"zz": 1, "aa": [1.5, None, True]},
    ],
)
def test_an_object_written_again_with_its_label_is_exactly_its_json(
    changes: dict[str, Any],
) -> None:
    found = stix.check_object(indicator(1) | changes)
    assert found.content == _stored_json(found.object)
    label_fields = {"originator": "JPN", "classification": "GOKUHI", "releasable_to": ["CAN"]}
    stored = stix.with_label(found, label_fields, "<label/>")
    assert stored.content == _stored_json(stored.object)
    written = stix.extension_json(label_fields, "<label/>")  # once for an envelope's label
    assert stix.with_label(found, label_fields, "<label/>", written) == stored
    extension = stored.object["extensions"][stix.EXTENSION_ID]
    assert extension == {
        "extension_type": "property-extension",
        **label_fields,
        "label_4774": "<label/>",
    }
    assert (stored.template is None) == (stix._SLOT_JSON in json.dumps(changes))


@pytest.mark.parametrize("missing", ["created", "modified", "valid_from", "pattern_type"])
def test_stix2_defaults_do_not_hide_a_missing_required_property(missing: str) -> None:
    obj = indicator(1)
    del obj[missing]
    with pytest.raises(stix.Refused, match=r"not valid STIX 2\.1"):
        stix.validate(stix.check_object(obj))


def index_of(rows: list[tuple[str, int, int]]) -> StixIndex:
    """A mirror of rows (STIX id, version, date added), in one collection."""
    index = StixIndex()
    index._append(
        [
            (seq, seq, added, version, str(version), "indicator", stix_id, "c", "2.1", str(added))
            for seq, (stix_id, version, added) in enumerate(rows, start=1)
        ]
    )
    return index


def test_versions_and_paging_of_the_mirror() -> None:
    rows = [("a", 1, 10), ("b", 1, 11), ("a", 3, 12), ("a", 2, 13), ("c", 5, 14)]
    index = index_of(rows)
    everyone = np.ones(index.size, dtype=np.bool_)

    def picked(query: Query, visible: Any = everyone) -> list[tuple[str, int]]:
        found, _ = index.select(visible, "c", query)
        return [(rows[r][0], rows[r][1]) for r in found]

    assert picked(Query()) == [("b", 1), ("a", 3), ("c", 5)]
    assert picked(Query(versions=("first",))) == [("a", 1), ("b", 1), ("c", 5)]
    assert picked(Query(versions=("all",))) == [(r[0], r[1]) for r in rows]
    assert picked(Query(versions=("first", "last"))) == [("a", 1), ("b", 1), ("a", 3), ("c", 5)]
    hidden = everyone.copy()
    hidden[2] = False  # the caller may not see version 3 of a: its last is version 2
    assert picked(Query(), hidden) == [("b", 1), ("a", 2), ("c", 5)]
    assert picked(Query(ids=("a",), added_after=11)) == [("a", 3)]
    assert picked(Query(types=("malware",))) == []
    assert picked(Query(spec_versions=("2.0",))) == []
    assert index.select(everyone, "other", Query())[0].size == 0
    first, more = index.select(everyone, "c", Query(versions=("all",), limit=2))
    assert more
    assert [rows[r][0] for r in first] == ["a", "b"]
    cursor = (int(index.added[first[-1]]), int(index.seq[first[-1]]))
    rest, more = index.select(everyone, "c", Query(versions=("all",), limit=2, cursor=cursor))
    assert more
    assert [rows[r][2] for r in rest] == [12, 13]


def test_rows_from_several_processes_are_read_in_date_order() -> None:
    rows = [("a", 1, 20), ("b", 1, 10), ("c", 1, 30), ("d", 1, 15)]
    index = index_of(rows)
    assert not index.in_added_order
    found, _ = index.select(np.ones(4, dtype=np.bool_), "c", Query())
    assert [rows[r][0] for r in found] == ["b", "d", "a", "c"]


def test_cursors() -> None:
    assert decode_cursor(encode_cursor(1795801780758152, 50)) == (1795801780758152, 50)
    for bad in ("", "1", "a-b", "1-", "-1", "1-2-3", "9" * 50):
        with pytest.raises(InputError):
            decode_cursor(bad)


def test_the_mirror_keeps_up_with_many_objects() -> None:
    rng = random.Random(7)  # noqa: S311
    rows = [(f"id{rng.randrange(3000)}", rng.randrange(5), n) for n in range(20_000)]
    rows = list({(r[0], r[1]): r for r in rows}.values())
    index = index_of(rows)
    visible = np.array([rng.random() < 0.7 for _ in rows])
    found, _ = index.select(visible, "c", Query(limit=1_000_000))
    expected: dict[str, tuple[int, int]] = {}
    for i, (stix_id, version, added) in enumerate(rows):
        if visible[i] and (stix_id not in expected or version >= expected[stix_id][0]):
            expected[stix_id] = (version, added)
    assert sorted((rows[r][0], rows[r][1]) for r in found) == sorted(
        (k, v[0]) for k, v in expected.items()
    )
    assert list(itertools.pairwise(rows[r][2] for r in found)) == sorted(
        itertools.pairwise(rows[r][2] for r in found)
    )
