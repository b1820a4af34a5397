"""Builders shared by the catalogue tests: a minimal valid document, changed once per test.

``document`` is a fresh deep copy of ``MINIMAL`` for each test; a test changes exactly one
thing in it and hands it to ``load`` (expects a catalogue) or ``refuse`` (expects a
``CatalogueError`` and returns it). Documents travel as YAML text, the catalogue's usual form.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gsoia.catalogue import Catalogue, parse_catalogue
from gsoia.errors import CatalogueError

Document = dict[str, Any]

MINIMAL: Document = {
    "policies": {
        "JPN": {
            "name": "Japan",
            "levels": [
                {"id": "HI", "name": "秘", "latin": "Hi"},
                {"id": "GOKUHI", "name": "極秘", "latin": "Gokuhi"},
                {"id": "TOKUTEI", "name": "特定秘密"},
                {"id": "KIMITSU", "name": "機密", "latin": "Kimitsu"},
            ],
        },
        "CAN": {
            "name": "Canada",
            "levels": [
                {"id": "C", "name": "CONFIDENTIAL"},
                {"id": "S", "name": "SECRET"},
                {"id": "TS", "name": "TOP SECRET"},
            ],
        },
        "USA": {
            "name": "United States",
            "levels": [
                {"id": "C", "name": "CONFIDENTIAL"},
                {"id": "S", "name": "SECRET"},
                {"id": "TS", "name": "TOP SECRET"},
            ],
        },
    },
    "groups": {"FVEY": ["CAN", "USA"]},
    "agreements": [
        {
            "id": "JPN-CAN",
            "title": "Agreement between Japan and Canada on the Security of Information",
            "parties": ["JPN", "CAN"],
            "scope": ["*"],
            "events": [
                {"status": "negotiating", "date": dt.date(2022, 10, 11)},
                {"status": "signed", "date": dt.date(2025, 7, 8)},
                {"status": "in_force", "date": dt.date(2025, 10, 16)},
            ],
            "equivalence": [
                {"JPN": "KIMITSU", "CAN": "TS"},
                {"JPN": ["GOKUHI", "TOKUTEI"], "CAN": "S"},
                {"JPN": "HI", "CAN": "C"},
            ],
        },
        {
            "id": "JPN-USA",
            "title": "General Security of Military Information Agreement",
            "parties": ["JPN", "USA"],
            "events": [{"status": "in_force", "date": dt.date(2007, 8, 10)}],
            "equivalence": [
                {"JPN": "KIMITSU", "USA": "TS"},
                {"JPN": ["GOKUHI", "TOKUTEI"], "USA": "S"},
            ],
        },
    ],
}
"""Japan, Canada, the USA; FVEY = [CAN, USA]; agreements[0] JPN-CAN, agreements[1] JPN-USA."""


def as_yaml(document: Document) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@pytest.fixture
def document() -> Document:
    """A fresh copy of the minimal valid document, for one change."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def load() -> Callable[[Document], Catalogue]:
    """Parse a document that must be accepted."""

    def _load(document: Document) -> Catalogue:
        return parse_catalogue(as_yaml(document))

    return _load


@pytest.fixture
def refuse() -> Callable[[Document], CatalogueError]:
    """Parse a document that must be refused; the error, for its problems."""

    def _refuse(document: Document) -> CatalogueError:
        with pytest.raises(CatalogueError) as err:
            parse_catalogue(as_yaml(document))
        return err.value

    return _refuse
