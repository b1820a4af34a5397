"""decide()'s quick request conversion (msgspec) against the request schema (pydantic).

The quick path may refuse what the schema accepts (the schema then decides), but whatever
it accepts the schema must accept too, and mean the same by it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gsoia.decision.request import _REQUEST, _parse, parse_request, quick_request
from gsoia.errors import RequestError
from tests.budget import examples

# Values of every kind a JSON body or a Python caller could put in a field.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, width=16),
    st.sampled_from(["", "x" * 64, "x" * 65, "x" * 257, "JPN", "2026-03-01", "2026-02-30"]),
    st.sampled_from(
        ["2026-3-1", "2026-03-01T00:00:00", "20260301", "2026-03-01Z", "２０２６-03-01"]
    ),
    st.just(b"JPN"),
    st.just(dt.date(2026, 3, 1)),
    st.just(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)),
    st.lists(st.sampled_from(["JPN", "", "x" * 65, "FVEY"]), max_size=3),
    st.tuples(st.just("JPN")),
    st.frozensets(st.sampled_from(["JPN", "CAN"]), max_size=2),
    st.just({"nation": "JPN"}),
)

NAMES = st.sampled_from(
    ["JPN", "CAN", "USA", "FVEY", "GOKUHI", "S", "maritime", "t-1", "海上", "JP\ud800N"]
)
DAYS = st.one_of(st.dates().map(dt.date.isoformat), st.dates())
CATEGORIES = st.dictionaries(NAMES, st.lists(NAMES, max_size=2), max_size=2)

SUBJECT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["", "s-1", "分析官", "s\udc00"]),
    "nation": NAMES,
    "clearance": st.one_of(st.none(), NAMES),
    "clearance_expires": st.one_of(st.none(), DAYS),
    "need_to_know": st.lists(NAMES, max_size=3),
    "categories": CATEGORIES,
}
LABEL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "originator": NAMES,
    "classification": NAMES,
    "area": st.one_of(st.none(), NAMES),
    "releasable_to": st.lists(NAMES, max_size=3),
    "need_to_know": st.lists(NAMES, max_size=3),
    "categories": CATEGORIES,
}
REQUEST_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "custodian": st.one_of(st.none(), NAMES),
    "consented_to": st.lists(NAMES, max_size=3),
    "at": st.one_of(st.none(), DAYS),
}
REQUIRED = {"nation", "originator", "classification", "subject", "label"}


@st.composite
def _shaped(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """An object with some of ``fields`` (required ones mostly there), some values odd,
    sometimes an unknown key."""
    out: dict[str, Any] = {}
    for name, good in fields.items():
        if (name in REQUIRED and draw(st.integers(0, 9)) > 0) or draw(st.booleans()):
            out[name] = draw(ODD_VALUES) if draw(st.integers(0, 5)) == 0 else draw(good)
    if draw(st.integers(0, 9)) == 0:
        out[draw(st.sampled_from(["extra", "Nation", "custodian", "grants"]))] = "JPN"
    return out


@st.composite
def requests(draw: st.DrawFn) -> Any:
    fields = dict(REQUEST_FIELDS)
    fields["subject"] = _shaped(SUBJECT_FIELDS)
    fields["label"] = _shaped(LABEL_FIELDS)
    request = draw(_shaped(fields))
    return request if draw(st.integers(0, 19)) else draw(ODD_VALUES)


def _filled(request: dict[str, Any]) -> dict[str, Any]:
    """A schema-parsed request with every optional field at its meaning when absent."""
    subject = {
        "id": "",
        "clearance": None,
        "clearance_expires": None,
        "need_to_know": [],
        "categories": {},
    }
    label = {"area": None, "releasable_to": [], "need_to_know": [], "categories": {}}
    return {
        "subject": subject | request["subject"],
        "label": label | request["label"],
        "custodian": request.get("custodian"),
        "consented_to": request.get("consented_to", []),
        "at": request.get("at"),
    }


@settings(max_examples=examples(1000))
@given(requests())
def test_what_the_quick_path_accepts_the_schema_accepts_alike(data: Any) -> None:
    quick = quick_request(data)
    try:
        schema = _parse(_REQUEST, data, "")
    except RequestError:
        schema = None
    if schema is None:
        assert quick is None, "the quick path accepted what the schema refuses"
        return
    if quick is not None:
        assert quick == _filled(dict(schema))
    assert _filled(dict(parse_request(data))) == _filled(dict(schema))


def _optional(fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, st.SearchStrategy[Any]]:
    return {k: v for k, v in fields.items() if k not in REQUIRED}


def _texts(value: Any) -> list[Any]:
    """A field's texts: the value, a list's items, a mapping's keys and items."""
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return [*value, *(v for values in value.values() for v in values)]
    return value if isinstance(value, list) else [value]


def _well_formed(text: Any) -> bool:
    return not isinstance(text, str) or (
        "\ud800" not in text and "\udc00" not in text and ("\udfff" not in text)
    )


@given(
    st.fixed_dictionaries(
        {
            "subject": st.fixed_dictionaries({"nation": NAMES}, optional=_optional(SUBJECT_FIELDS)),
            "label": st.fixed_dictionaries(
                {"originator": NAMES, "classification": NAMES}, optional=_optional(LABEL_FIELDS)
            ),
        },
        optional=REQUEST_FIELDS,
    )
)
def test_a_well_formed_request_takes_the_quick_path(data: dict[str, Any]) -> None:
    texts = [
        v
        for part in (data, data["subject"], data["label"])
        for value in part.values()
        for v in _texts(value)
    ]
    assume(all(_well_formed(t) for t in texts))  # lone surrogates go to pydantic, refused
    assert quick_request(data) is not None
