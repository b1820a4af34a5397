"""Objects and clients for the TAXII tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server

from gsoia.node.stix import EXTENSION_ID
from tests import loopback
from tests.node.conftest import RunningNode

TAXII = "application/taxii+json;version=2.1"
ROOT = "/taxii2/api1/"
INTEL = "9b1f4c7e-2d3a-4e5b-8f61-0c7a2b9d4e13"
OBJECTS = f"{ROOT}collections/{INTEL}/objects/"

USERS: dict[str, tuple[str, str | None, list[str]]] = {
    "jp": ("JPN", "KIMITSU", ["maritime"]),
    "ca-s": ("CAN", "S", ["maritime"]),
    "ca-c": ("CAN", "C", ["maritime"]),
    "us-ts": ("USA", "TS", ["maritime"]),
}


def label(
    classification: str = "GOKUHI",
    releasable_to: tuple[str, ...] = ("CAN",),
    need_to_know: tuple[str, ...] = (),
    originator: str = "JPN",
) -> dict[str, Any]:
    return {
        "extension_type": "property-extension",
        "originator": originator,
        "classification": classification,
        "area": "defence",
        "releasable_to": list(releasable_to),
        "need_to_know": list(need_to_know),
    }


def indicator(
    n: int,
    *,
    stix_id: str | None = None,
    modified: str = "2026-03-01T00:00:00.000Z",
    extension: dict[str, Any] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A STIX 2.1 indicator with the gsoia label (GOKUHI, releasable to CAN by default)."""
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or f"indicator--{uuid.uuid4()}",
        "created": "2026-03-01T00:00:00.000Z",
        "modified": modified,
        "name": f"Patrol craft beacon {n}",
        "description": "An address seen in beacons from patrol craft.",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '198.51.100.{n % 250}']",
        "pattern_type": "stix",
        "valid_from": "2026-03-01T00:00:00Z",
        "extensions": {EXTENSION_ID: extension if extension is not None else label()},
    }
    obj.update(changes)
    return obj


def token(node: RunningNode, user: str) -> str:
    return node.tokens[user]


def server(node: RunningNode, user: str) -> Server:
    return Server(f"{node.url}/taxii2/", user=user, password=token(node, user))


def api_root(node: RunningNode, user: str) -> ApiRoot:
    return ApiRoot(f"{node.url}{ROOT}", user=user, password=token(node, user))


def collection(node: RunningNode, user: str) -> Collection:
    return Collection(
        f"{node.url}{ROOT}collections/{INTEL}/", user=user, password=token(node, user)
    )


def raw(node: RunningNode, user: str | None) -> httpx.Client:
    """Plain HTTP, TAXII headers set, for what taxii2-client does not show."""
    headers = {"Accept": TAXII}
    if user is not None:
        headers["Authorization"] = f"Bearer {token(node, user)}"
    return loopback.client(base_url=node.url, headers=headers, timeout=60)


def stix_problems(obj: dict[str, Any]) -> list[str]:
    """What ``stix2-validator`` (strict) finds wrong with an object: errors and warnings."""
    result = validate_instance(obj, ValidationOptions(strict=True, version="2.1"))
    return [str(e) for e in result.errors] + [str(w) for w in result.warnings]
