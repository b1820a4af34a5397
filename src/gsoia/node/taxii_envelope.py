"""An envelope of STIX objects sorted before it is stored: what is stored, what was there,
what is refused and why, and the status resource that reports it.

Each object is judged on its own (``sort_objects``): its label first (an object the writer
may not read is refused as an unknown object with that label would be, never answered
"already present"), then whether the collection holds it, then, on what would otherwise be
stored, the costly STIX validation. A repeat within the envelope fares as its first copy.
The status resource (``status_resource``) keeps whole counts and the first
``STATUS_DETAILS`` successes and failures.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gsoia.errors import GsoiaError
from gsoia.node import stix
from gsoia.node.item import Draft
from gsoia.node.labels4774 import label_with_xml, originator_label_text
from gsoia.node.users import User

if TYPE_CHECKING:
    from gsoia.node.service import Node

STATUS_DETAILS = 100
"""Success and failure details a status resource keeps, each (its counts are complete)."""

Key = tuple[str, str]
"""An object's STIX id and version ("" when it has none)."""


@dataclass
class Sorted:
    """An envelope's objects, sorted: the details so far and the objects to store."""

    successes: list[dict[str, Any]] = field(default_factory=list)
    """Objects the collection held already (nothing stored for them)."""
    failures: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[tuple[stix.Accepted, Draft]] = field(default_factory=list)
    """Objects to store, each with its item drafted (label checked and decided)."""


def sort_objects(
    node: Node, user: User, objects: Sequence[Any], present: Callable[[Key], bool]
) -> Sorted:
    """Judge each object of an envelope; ``present``: whether the collection holds a key."""
    envelope = Sorted()
    seen: set[Key] = set()
    repeats: list[stix.Accepted] = []  # again in this envelope: as the first copy fares
    decided: dict[str, Draft] = {}  # the envelope's labels, each checked and decided once
    written: dict[int, tuple[str, str]] = {}  # the envelope's labels as 4774 XML and as
    # label extensions (JSON), each written once
    for i, obj in enumerate(objects):
        try:
            found = stix.check_object(obj)
            key = (found.stix_id, found.version or "")
            if key in seen:
                repeats.append(found)
                continue
            # the label first: an object the writer may not read is refused as an
            # unknown object with that label is, never answered "already present"
            place = f"objects[{i}].extensions.{stix.EXTENSION_ID}"
            label, written_back = found.label, None
            if found.label_xml is not None:
                label, written_back = label_with_xml(
                    node.rulebook.catalogue, label, found.label_xml, f"{place}.{stix.LABEL_XML}"
                )
            draft = node.prepare_item(
                user, label, found.title, found.content, place=place, decided=decided
            )
            if present(key):
                envelope.successes.append(detail(*key, "already present"))
                continue
            found = _with_label(node, found, draft, written_back, written)
            draft = Draft(draft.label, draft.title, found.content, draft.decision)
        except stix.Refused as e:
            envelope.failures.append(failure(obj, e.message))
            continue
        except GsoiaError as e:
            envelope.failures.append(failure(obj, e.diagnostics()))
            continue
        seen.add(key)
        envelope.accepted.append((found, draft))
    _validate(envelope, repeats)
    return envelope


def _with_label(
    node: Node,
    found: stix.Accepted,
    draft: Draft,
    text: str | None,
    written: dict[int, tuple[str, str]],
) -> stix.Accepted:
    """The object as stored: its label extension with the fields as decided and the
    originator's 4774 label: ``text``, the one sent as gsoia writes it back, or else this
    node's writing of the label (``written``: the envelope's labels written so far, as
    4774 XML and as the extension's JSON, by the identity of the label decided, which
    ``Holdings.prepare`` shares between the drafts of one label and keeps for the
    envelope)."""
    label = dict(draft.label)
    if text is not None:
        return stix.with_label(found, label, text)
    key = id(draft.label)
    known = written.get(key)
    if known is None:
        xml = originator_label_text(node.rulebook.catalogue, draft.label)
        known = written[key] = (xml, stix.extension_json(label, xml))
    return stix.with_label(found, label, *known)


def _validate(envelope: Sorted, repeats: list[stix.Accepted]) -> None:
    """The costly check last, on what the node would otherwise store; the repeats as
    their first copies fared."""
    errors = stix.validate_many([found for found, _ in envelope.accepted])
    refused: dict[Key, str] = {}
    for (found, _), error in zip(envelope.accepted, errors, strict=True):
        if error is not None:
            envelope.failures.append(failure(found.object, error))
            refused[(found.stix_id, found.version or "")] = error
    envelope.accepted = [
        pair for pair, error in zip(envelope.accepted, errors, strict=True) if error is None
    ]
    for found in repeats:
        error = refused.get((found.stix_id, found.version or ""))
        if error is None:
            envelope.successes.append(detail(found.stix_id, found.version or "", "already present"))
        else:
            envelope.failures.append(failure(found.object, error))


def status_resource(
    envelope: Sorted,
    added: Sequence[int],
    owner: str,
    collection: str,
    request_timestamp: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The status resource of an envelope whose accepted objects are added at ``added``
    (microseconds), and its row in ``taxii_status``."""
    successes = list(envelope.successes)
    failures = envelope.failures
    stored = len(envelope.accepted)
    status_id = str(uuid.uuid4())
    body: dict[str, Any] = {
        "id": status_id,
        "status": "complete",
        "request_timestamp": request_timestamp,
        "total_count": len(successes) + len(failures) + stored,
        "success_count": len(successes) + stored,
        "failure_count": len(failures),
        "pending_count": 0,
    }
    for (found, _), added_us in zip(envelope.accepted, added, strict=True):
        if len(successes) >= STATUS_DETAILS:
            break
        successes.append(detail(found.stix_id, found.version or stix.format_us(added_us)))
    if successes:
        body["successes"] = successes[:STATUS_DETAILS]
    if failures:
        body["failures"] = failures[:STATUS_DETAILS]
    row = {
        "id": status_id,
        "owner": owner,
        "collection": collection,
        "request_timestamp": request_timestamp,
        "body": json.dumps(body, ensure_ascii=False),
    }
    return body, row


def stix_rows(
    accepted: Sequence[tuple[stix.Accepted, Draft]],
    stored: Sequence[tuple[str, int]],
    added: Sequence[int],
    collection: str,
) -> list[dict[str, Any]]:
    """The ``stix_objects`` rows of the accepted objects, stored as items ``stored``
    ((item id, seq), in their order) and added at ``added``."""
    rows = []
    for (found, _), (item_id, seq), added_us in zip(accepted, stored, added, strict=True):
        date_added = stix.format_us(added_us)
        rows.append(
            {
                "item_id": item_id,
                "item_seq": seq,
                "collection": collection,
                "stix_id": found.stix_id,
                "type": found.type,
                "spec_version": found.spec_version,
                "version": found.version or date_added,
                "version_us": added_us if found.version_us is None else found.version_us,
                "date_added": date_added,
                "added_us": added_us,
            }
        )
    return rows


def detail(stix_id: str, version: str, message: str | None = None) -> dict[str, Any]:
    """A status resource's detail of one object."""
    found = {"id": stix_id, "version": version}
    if message:
        found["message"] = message[:500]
    return found


def failure(obj: Any, message: str) -> dict[str, Any]:
    """The detail of a refused object: its id and version as far as they can be read."""
    stix_id, version = "", ""
    if isinstance(obj, dict):
        if isinstance(obj.get("id"), str):
            stix_id = obj["id"][:300]
        found = obj.get("modified", obj.get("created"))
        if isinstance(found, str):
            version = found[:64]
    return detail(stix_id, version, message)
