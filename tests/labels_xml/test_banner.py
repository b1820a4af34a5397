"""Banner text: the dual marking unchanged where no policy has a SPIF; a level of a
policy with a SPIF in its display marking, the others as decided."""

from __future__ import annotations

from typing import Any

from gsoia.catalogue import read_catalogue
from gsoia.catalogue.load import catalogue_from_document
from gsoia.labels_xml.banner import banner_text

BUNDLED = read_catalogue()


def _item(text: str, level: tuple[str, str, str], agreement: str | None) -> dict[str, Any]:
    policy, level_id, name = level
    original = {"policy": "JPN", "id": "GOKUHI", "name": "極秘"}
    return {
        "marking": {
            "level": {"policy": policy, "id": level_id, "name": name},
            "original": original,
            "text": text,
        },
        "agreement": agreement,
        "label": {"originator": "JPN", "classification": "GOKUHI", "releasable_to": ["USA"]},
    }


def test_without_spifs_the_banner_is_the_marking_as_decided() -> None:
    own = _item("JPN 極秘", ("JPN", "GOKUHI", "極秘"), None)
    held = _item("USA SECRET // JPN 極秘 // JPN-USA", ("USA", "S", "SECRET"), "JPN-USA")
    assert banner_text(BUNDLED, own) == "JPN 極秘"
    assert banner_text(BUNDLED, held) == "USA SECRET // JPN 極秘 // JPN-USA"


def test_a_level_of_a_policy_with_a_spif_is_in_its_display_marking() -> None:
    document = BUNDLED.model_dump(mode="json", exclude_defaults=True)
    usa = document["policies"]["USA"]
    usa["oid"] = "2.16.840.1.101"
    usa["levels"][1]["markings"] = [{"phrase": "US SECRET", "codes": ["pageTopBottom"]}]
    catalogue = catalogue_from_document(document)
    held = _item("USA SECRET // JPN 極秘 // JPN-USA", ("USA", "S", "SECRET"), "JPN-USA")
    assert banner_text(catalogue, held) == "United States US SECRET // JPN 極秘 // JPN-USA"
