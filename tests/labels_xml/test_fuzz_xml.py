"""Arbitrary and mutated XML into the SPIF, label and binding readers: each either reads
the document or refuses it with gsoia's one-line ``InputError``, never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsoia.errors import InputError
from gsoia.labels_xml.label4774 import read_label
from gsoia.labels_xml.label_check import check_label
from gsoia.labels_xml.spif_read import read_spif
from gsoia.node.binding4778 import read_binding
from tests.budget import examples

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "spif"
SPIF = (FIXTURES / "nato-4774-policy.xml").read_bytes()
NATO = read_spif(SPIF).policy
LABELS = [(FIXTURES / f"nato-4774-17-{n}.nato").read_bytes() for n in range(1, 7)]
FUZZ = settings(
    deadline=None, max_examples=examples(150), suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def _mutated(draw: st.DrawFn, documents: list[bytes]) -> bytes:
    """A document with a few bytes replaced, removed or inserted."""
    data = bytearray(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["replace", "delete", "insert"])):
            case "replace":
                data[at] = draw(st.integers(0, 255))
            case "delete":
                del data[at]
            case _:
                data[at:at] = draw(st.sampled_from([b"<", b">", b"&", b'"', b"<x>", b"\xff"]))
    return bytes(data)


def _read_or_refuse(read: object, data: bytes) -> None:
    refusal = ""
    try:
        read(data)  # type: ignore[operator]
    except InputError as e:
        refusal = e.diagnostics()
    assert "\n" not in refusal


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    for read in (read_spif, read_label, lambda d: read_binding(d, lambda _: [])):
        _read_or_refuse(read, data)


@FUZZ
@given(_mutated(LABELS))
def test_mutated_labels_read_and_checked(data: bytes) -> None:
    _read_or_refuse(lambda d: check_label(read_label(d), NATO), data)


@settings(FUZZ, max_examples=examples(40))
@given(_mutated([SPIF]))
def test_mutated_spif(data: bytes) -> None:
    _read_or_refuse(read_spif, data)
