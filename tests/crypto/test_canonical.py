"""RFC 8785 (JCS) canonical JSON of the subset gsoia signs."""

from __future__ import annotations

import datetime
import decimal
import json
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsoia.crypto import canonical_json
from gsoia.crypto.canonical import MAX_SAFE_INTEGER

# RFC 8785 §3.2.2, without its "numbers" member (gsoia never signs floats).
RFC_3_2_2_INPUT = r"""{
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_3_2_2_OUTPUT = r"""{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}"""

# RFC 8785 §3.2.3: sorting by UTF-16 code units, not by code points.
RFC_3_2_3_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_3_2_3_OUTPUT = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
    '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
)

# The reference implementation's testdata/input/weird.json and output/weird.json.
WEIRD_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}"""
WEIRD_OUTPUT = (
    '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
    '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
)

# testdata/input/french.json: locale plays no part in the order.
FRENCH_INPUT = """{
  "peach": "This sorting order",
  "péché": "is wrong according to French",
  "pêche": "but canonicalization MUST",
  "sin":   "ingnore locale"
}"""
FRENCH_OUTPUT = (
    '{"peach":"This sorting order","péché":"is wrong according to French",'
    '"pêche":"but canonicalization MUST","sin":"ingnore locale"}'
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (RFC_3_2_2_INPUT, RFC_3_2_2_OUTPUT),
        (RFC_3_2_3_INPUT, RFC_3_2_3_OUTPUT),
        (WEIRD_INPUT, WEIRD_OUTPUT),
        (FRENCH_INPUT, FRENCH_OUTPUT),
    ],
    ids=["rfc8785-3.2.2-strings", "rfc8785-3.2.3-sorting", "weird", "french"],
)
def test_rfc8785_vectors(source: str, expected: str) -> None:
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_a_supplementary_character_sorts_by_its_surrogates_not_its_code_point() -> None:
    # U+1F602 is D83D DE02 in UTF-16: before U+FB33, although its code point is larger.
    out = canonical_json({"\ufb33": 1, "\U0001f602": 2})
    assert out == '{"\U0001f602":2,"\ufb33":1}'.encode()


def test_structures_nest_and_sort_at_every_level() -> None:
    value = {"1": {"f": {"f": "hi", "F": 5}, "\n": 56}, "10": {}, "": "empty", "a": {}}
    value |= {"111": [{}], "A": {}}
    assert canonical_json(value) == (
        b'{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}'
    )


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ('"', b'\\"'),
        ("\\", b"\\\\"),
        ("\b", b"\\b"),
        ("\f", b"\\f"),
        ("\n", b"\\n"),
        ("\r", b"\\r"),
        ("\t", b"\\t"),
        ("\x00", b"\\u0000"),
        ("\x0b", b"\\u000b"),
        ("\x1f", b"\\u001f"),
    ],
)
def test_escapes(char: str, escaped: bytes) -> None:
    assert canonical_json(char) == b'"' + escaped + b'"'


def test_every_other_control_character_is_a_lowercase_u00xx_escape() -> None:
    short = {"\b", "\f", "\n", "\r", "\t"}
    for code in range(0x20):
        if chr(code) not in short:
            assert canonical_json(chr(code)) == f'"\\u{code:04x}"'.encode()


@pytest.mark.parametrize("text", ["€", "ö", "/", "\x7f", "\u0080", "\u2028", "日本", "\U0001f600"])
def test_everything_else_is_literal_utf8(text: str) -> None:
    assert canonical_json(text) == b'"' + text.encode("utf-8") + b'"'


def test_euro_sign_bytes() -> None:
    assert canonical_json("€") == b'"\xe2\x82\xac"'


def test_literals_and_integers() -> None:
    assert canonical_json([None, True, False, 0, -1, 42]) == b"[null,true,false,0,-1,42]"
    assert canonical_json({"a": True, "b": 1}) == b'{"a":true,"b":1}'
    assert canonical_json(()) == b"[]"
    assert canonical_json(("x", 1)) == b'["x",1]'
    assert canonical_json(MappingProxyType({"b": 1, "a": 2})) == b'{"a":2,"b":1}'


def test_no_whitespace() -> None:
    assert canonical_json({"a": [1, {"b": None}], "c": ""}) == b'{"a":[1,{"b":null}],"c":""}'


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER])
def test_the_largest_safe_integers_are_accepted(value: int) -> None:
    assert canonical_json(value) == str(value).encode()


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30, [2**64], {"n": -(2**63)}])
def test_integers_beyond_the_safe_range_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match=r"outside ±\(2\*\*53 - 1\)"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value", [1.0, 0.5, -0.0, float("nan"), float("inf"), [1, 2.5], {"a": {"b": 3.0}}]
)
def test_floats_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="float"):
        canonical_json(value)


def test_the_error_says_where() -> None:
    with pytest.raises(TypeError, match=r"\$\['a'\]\[1\]: float"):
        canonical_json({"a": [1, 2.5]})


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (datetime.date(2024, 1, 1), "date"),
        (datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), "datetime"),
        (b"bytes", "bytes"),
        ({1, 2}, "set"),
        (decimal.Decimal(1), "Decimal"),
        (object(), "object"),
        ({"k": frozenset()}, "frozenset"),
    ],
)
def test_other_types_are_refused_by_name(value: object, type_name: str) -> None:
    with pytest.raises(TypeError, match=type_name):
        canonical_json(value)


@pytest.mark.parametrize("key", [1, None, True, ("a",), b"a"])
def test_non_string_keys_are_refused(key: object) -> None:
    with pytest.raises(TypeError, match="object key"):
        canonical_json({key: 1})


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", {"\ud83d": 1}, ["ok", "\udc00"]])
def test_lone_surrogates_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        canonical_json(value)


def test_a_container_that_contains_itself_is_refused() -> None:
    looped: list[object] = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match="contains itself"):
        canonical_json(looped)


def test_a_shared_but_acyclic_container_is_fine() -> None:
    shared = {"x": 1}
    assert canonical_json([shared, shared]) == b'[{"x":1},{"x":1}]'


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text()
)
_bmp_keys = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]))


def _json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    return st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=20,
    )


@given(_json_values(_bmp_keys))
def test_matches_sorted_compact_json_dumps_where_the_orders_agree(value: object) -> None:
    # Below U+10000 a code unit is its code point, so Python's key order is JCS's, and
    # json.dumps escapes exactly as ECMAScript does.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode("utf-8")


@given(_json_values(st.text()))
def test_parses_back_and_is_a_fixed_point(value: object) -> None:
    out = canonical_json(value)
    assert json.loads(out) == value
    assert canonical_json(json.loads(out)) == out


_ascii_keys = st.text(st.characters(max_codepoint=0x7F))


@given(_json_values(_ascii_keys))
def test_the_fast_encoder_writes_what_the_emitter_writes(value: object) -> None:
    # Values of the fast path's subset (ASCII keys) go through msgspec; the emitter,
    # which follows RFC 8785 step by step, must agree byte for byte, every string
    # (control characters, U+2028, astral characters) included.
    from gsoia.crypto.canonical import _emit, _plain

    assert _plain(value, 0)
    parts: list[str] = []
    _emit(value, parts, "$", set())
    assert canonical_json(value) == "".join(parts).encode("utf-8")
