"""Hostile XML is refused with one line before anything reads it: entity expansion,
external entities, a DTD at all, deep nesting, huge attributes, huge documents."""

from __future__ import annotations

import pytest

from gsoia.labels_xml import LabelXmlError
from gsoia.labels_xml.label4774 import read_label
from gsoia.labels_xml.safe import MAX_ATTRIBUTE, MAX_BYTES, MAX_DEPTH
from gsoia.labels_xml.spif_read import read_spif

NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    f'<ConfidentialityLabel xmlns="{NS}">&lol3;</ConfidentialityLabel>'
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<ConfidentialityLabel xmlns="{NS}">&xxe;</ConfidentialityLabel>'
)
REMOTE_DTD = (
    '<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd">'
    f'<ConfidentialityLabel xmlns="{NS}"/>'
)
DEEP = "<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1)
WIDE_ATTRIBUTE = f'<ConfidentialityLabel xmlns="{NS}" x="{"A" * (MAX_ATTRIBUTE + 1)}"/>'


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (BILLION_LAUGHS, "refused: DTDForbidden (no DTD or entity)"),
        (EXTERNAL, "refused: DTDForbidden (no DTD or entity)"),
        (REMOTE_DTD, "refused: DTDForbidden (no DTD or entity)"),
        (DEEP, f"nested deeper than {MAX_DEPTH} elements"),
        (WIDE_ATTRIBUTE, f"attribute longer than {MAX_ATTRIBUTE} characters"),
        ("<unclosed>", "not well-formed XML: no element found: line 1, column 10"),
        (  # an encoding no codec knows (found by the fuzzer: "UTF-8" with a byte lost)
            '<?xml version="1.0" encoding="TF-8"?><a/>',
            "not readable XML: unknown encoding: TF-8",
        ),
        ("A" * (MAX_BYTES + 1), f"larger than {MAX_BYTES} bytes"),
    ],
)
@pytest.mark.parametrize("reader", [read_label, read_spif])
def test_hostile_xml_is_refused_with_one_line(xml: str, reason: str, reader: object) -> None:
    with pytest.raises(LabelXmlError) as caught:
        reader(xml.encode())  # type: ignore[operator]
    assert caught.value.reason == reason
    assert "\n" not in caught.value.diagnostics()
