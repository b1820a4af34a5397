"""The namespaces of the label standards and gsoia's own SPIF extension."""

from __future__ import annotations

SPIF = "http://www.xmlspif.org/spif"
LABEL_4774 = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
BINDING_4778 = "urn:nato:stanag:4778:bindinginformation:1:0"
GSOIA = "urn:gsoia:spif:1"
"""gsoia's element in a SPIF's ``extensions``: the catalogue ids of the policy and levels."""
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def q(namespace: str, name: str) -> str:
    """ElementTree's qualified name: ``{namespace}name``."""
    return f"{{{namespace}}}{name}"
