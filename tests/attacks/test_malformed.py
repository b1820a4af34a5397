"""Packages that are not packages: oversize, not JSON, the wrong shape, hostile values.

Anyone who can reach the inbox can send these, without any key; the receiver must refuse
each with MALFORMED (422) or OVERSIZE (413), audited, never with a server error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gsoia.federation.packages import MAX_PACKAGE, Rejection
from tests import loopback
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator

MiB = 1024 * 1024


def _valid(can: PeerSimulator) -> dict[str, Any]:
    return can.release().signed()


# -- size ---------------------------------------------------------------------------------


def _refused_as_oversize(receiver: Receiver, content: bytes | Iterator[bytes]) -> None:
    """413; nothing stored; audited once, by the inbox (OVERSIZE) or by the node's body
    limit, which stops a body before the inbox reads it (a generic ``refused`` entry)."""
    before = receiver.snapshot()
    # A connection of its own (from an address of its own: the first refusal of its source,
    # written at once): the node answers before it has read the body, then closes.
    with loopback.client_from(loopback.fresh_source(), base_url=receiver.node.url) as http:
        response = http.post(
            "/federation/v1/inbox",
            content=content,
            headers={"content-type": "application/json"},
            timeout=60,
        )
    assert response.status_code == 413, response.text[:300]
    after = receiver.snapshot()
    assert [t for t in before.rows if before.rows[t] != after.rows[t]] == []
    (entry,) = receiver.audit_since(before)
    if entry["kind"] == "package.refused":
        assert entry["data"]["reason"] == Rejection.OVERSIZE.value
    else:
        assert entry["kind"] == "refused", entry
        assert entry["data"]["reason"].startswith("413"), entry


def test_oversize_package(receiver: Receiver, can: PeerSimulator) -> None:
    """Over 16 MiB, with its length declared: refused before it is read, and audited."""
    package = _valid(can)
    package["body"]["ciphertext"] = "A" * (MAX_PACKAGE + 1)
    _refused_as_oversize(receiver, json.dumps(package).encode())


def test_oversize_package_streamed(receiver: Receiver) -> None:
    """Over 16 MiB, chunked (no content-length): cut off as it arrives, and audited."""

    def chunks() -> Iterator[bytes]:
        yield b'{"gsoia": 1, "body": {"x": "'
        for _ in range(MAX_PACKAGE // MiB + 1):
            yield b"A" * MiB
        yield b'"}}'

    _refused_as_oversize(receiver, chunks())


# -- not a package ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",  # not UTF-8
        b"[]",
        b'"a package"',
        b"null",
        b"1e400",
        b'{"gsoia": 1',  # cut short
        b"[" * 100_000 + b"]" * 100_000,  # nested beyond any parser's recursion limit
        b'{"a": ' + b"1" * 5000 + b"}",  # an integer of 5000 digits
    ],
    ids=["empty", "text", "latin", "array", "string", "null", "inf", "cut", "deep", "bigint"],
)
def test_not_a_json_object(receiver: Receiver, raw: bytes) -> None:
    receiver.refuses(raw, 422, Rejection.MALFORMED)


@pytest.mark.parametrize(
    "field", ["gsoia", "id", "kind", "from", "to", "created", "body", "signature"]
)
def test_missing_field(receiver: Receiver, can: PeerSimulator, field: str) -> None:
    package = _valid(can)
    del package[field]
    receiver.refuses(package, 422, Rejection.MALFORMED, detail=field)


def test_unknown_top_level_attribute(receiver: Receiver, can: PeerSimulator) -> None:
    """An attribute outside the signature could carry anything past the checks."""
    package = _valid(can) | {"unsigned_extra": "ignore me"}
    receiver.refuses(package, 422, Rejection.MALFORMED, detail="unsigned_extra")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gsoia", 2),
        ("gsoia", "1"),
        ("id", 5),
        ("id", ""),
        ("id", "x" * 65),
        ("kind", "exfiltrate"),
        ("from", 7),
        ("from", ""),
        ("to", ["JPN"]),
        ("created", 1732700000),
        ("created", "x" * 41),
        ("body", []),
        ("body", "body"),
        ("signature", 1),
        ("signature", "A" * 201),
    ],
)
def test_wrong_type(receiver: Receiver, can: PeerSimulator, field: str, value: Any) -> None:
    package = _valid(can) | {field: value}
    receiver.refuses(package, 422, Rejection.MALFORMED, detail=field)


# -- hostile values inside an unsigned body (no key needed to send them) -----------------
#
# The package claims to come from Canada (pinned) for Japan, so the receiver goes on to
# check its signature: what it canonicalises to verify it must not bring it down.


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (1.5, None),
        (2**64, None),
        (None, "NaN"),
        (None, "Infinity"),
        (None, '"\\ud800"'),  # a lone surrogate: valid JSON, not Unicode
    ],
    ids=["float", "int64", "nan", "infinity", "surrogate"],
)
def test_value_outside_canonical_json(
    receiver: Receiver, can: PeerSimulator, value: Any, raw: str | None
) -> None:
    package = _valid(can)
    package["body"]["extra"] = "@@VALUE@@"
    wire = json.dumps(package).replace('"@@VALUE@@"', raw if raw else json.dumps(value))
    receiver.refuses(wire.encode(), 422, Rejection.MALFORMED)


@pytest.mark.parametrize("depth", [200, 900])
def test_deeply_nested_body(receiver: Receiver, can: PeerSimulator, depth: int) -> None:
    """Nested deep enough for a recursive canonicaliser, shallow enough for the parser:
    the signature (over a body the sender never signed) is what refuses it."""
    package = _valid(can)
    package["body"]["extra"] = "@@VALUE@@"
    wire = json.dumps(package).replace('"@@VALUE@@"', "[" * depth + "]" * depth)
    problem = receiver.refuses(wire.encode(), 403, Rejection.BAD_SIGNATURE)
    assert problem["package"] == package["id"]


# -- a signed package whose body is not its kind's ----------------------------------------


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda b: b.pop("binding"), "binding"),
        (lambda b: b.update(extra=1), "extra"),
        (lambda b: b.update(grants={}), "grants"),
        (lambda b: b["item"].update(releasable_to="JPN"), "releasable_to"),
        (lambda b: b["item"].update(id=""), "id"),
        (lambda b: b.update(content_sha384="ab"), "content_sha384"),
    ],
    ids=["missing", "extra", "grants", "releasable_to", "empty-id", "short-digest"],
)
def test_release_body_malformed(
    receiver: Receiver, can: PeerSimulator, change: Any, place: str
) -> None:
    draft = can.release().modify(lambda p: change(p["body"]))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail=place)


@pytest.mark.parametrize("kind", ["consent_request", "consent_reply", "incident", "reclassify"])
def test_notice_with_a_release_body(receiver: Receiver, can: PeerSimulator, kind: str) -> None:
    """A release body, signed as another kind: its shape is checked against its kind."""
    draft = can.release().modify(lambda p: p.update(kind=kind))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="body")
