"""Posting packages to a peer's inbox: how they are cut into batches, and what each answer
means for a package (delivered, refused, or to be tried again)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from gsoia.audit.acknowledgement import Acknowledgement
from gsoia.federation.outbox import State
from gsoia.federation.peers import Peer

BATCH_PACKAGES = 250
"""Packages posted to a peer's batch inbox in one request, at most."""
BATCH_BYTES = 4 * 1024 * 1024
"""Bytes posted to a peer's batch inbox in one request, at most (but for one package)."""
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}


@dataclass(frozen=True)
class Attempt:
    package_id: str
    state: str
    detail: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one attempt at an outbox row came to: delivered, failed (refused), or pending."""

    row: Any
    state: str
    reason: str | None = None
    unreachable: bool = False
    """The peer did not answer at all (no point in posting it more now)."""
    receipt: Any = None
    """The receipt the peer answered a release with (its JSON, unchecked), if any."""
    acknowledgement: Acknowledgement | None = None
    """That receipt, verified (``federation.acknowledgements``)."""

    def acknowledged(self, receipt: Acknowledgement) -> Outcome:
        """This outcome with its receipt verified: ``replace(self, acknowledgement=receipt)``
        without ``replace``'s look at the fields (a release's, each batch)."""
        return Outcome(self.row, self.state, self.reason, self.unreachable, self.receipt, receipt)


def awaiting_rotation(row: Any) -> Attempt:
    # what follows a key rotation is bound with the new key: the peer must learn it first
    # (not an attempt: no backoff; the loop tries again on its next round)
    return Attempt(row.package_id, State.PENDING, "waits for the key rotation notice")


def unpinned(row: Any) -> Outcome:
    return Outcome(row, State.PENDING, f"{row.peer} is not a pinned peer")


def unreachable(row: Any, peer: Peer, error: httpx.HTTPError) -> Outcome:
    return Outcome(
        row, State.PENDING, f"{peer.url} unreachable: {type(error).__name__}", unreachable=True
    )


def chunks(wires: list[tuple[Any, bytes]]) -> Iterator[list[tuple[Any, bytes]]]:
    """Consecutive runs of at most ``BATCH_PACKAGES`` packages and ``BATCH_BYTES`` bytes."""
    chunk: list[tuple[Any, bytes]] = []
    size = 0
    for row, raw in wires:
        if chunk and (len(chunk) >= BATCH_PACKAGES or size + len(raw) + 1 > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((row, raw))
        size += len(raw) + 1
    if chunk:
        yield chunk


def batch_answers(response: httpx.Response, package_ids: list[str]) -> list[dict[str, Any]] | None:
    """The peer's answer for each package of a batch, in order; None if it is not that."""
    if response.status_code != 200:
        return None
    try:
        answers = response.json().get("results")
    except (ValueError, AttributeError):
        return None
    if not isinstance(answers, list) or len(answers) != len(package_ids):
        return None
    for answer, package_id in zip(answers, package_ids, strict=True):
        if (
            not isinstance(answer, dict)
            or answer.get("package") != package_id
            or not isinstance(answer.get("status"), int)
        ):
            return None
    return answers


def answered(row: Any, answer: dict[str, Any], peer: Peer) -> Outcome:
    """What the peer's answer for one package of a batch means, as for a package alone."""
    status = answer["status"]
    if status in (200, 201):
        result = answer.get("result")
        return Outcome(row, State.DELIVERED, receipt=receipt_in(result))
    if status == 409 and answer.get("reason") == "REPLAY":
        return Outcome(row, State.DELIVERED, receipt=answer.get("receipt"))
    if 400 <= status < 500:
        reason = f"{answer.get('reason', '')}: {answer.get('detail', '')}".strip(": ")
        return Outcome(row, State.FAILED, reason[:500] or f"HTTP {status}")
    return Outcome(row, State.PENDING, f"HTTP {status} from {peer.url}")


def receipt_in(answer: object) -> Any:
    """The receipt an answer (a JSON object) carries; None if none."""
    return answer.get("receipt") if isinstance(answer, dict) else None


def delivered(response: httpx.Response) -> Outcome | None:
    """What an answer to a package posted alone says if the peer took it (stored now, or
    held already: delivery is idempotent), with the receipt it carries; None else."""
    if response.status_code not in (200, 201) and not already_received(response):
        return None
    try:
        receipt = receipt_in(response.json())
    except ValueError:
        receipt = None
    return Outcome(None, State.DELIVERED, receipt=receipt)


def problem_of(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('reason', '')}: {body.get('detail', '')}".strip(": ")[:500]
    except ValueError:
        return f"HTTP {response.status_code}"


def already_received(response: httpx.Response) -> bool:
    """The peer holds this package already: delivered, not refused (delivery is idempotent)."""
    if response.status_code != 409:
        return False
    try:
        return bool(response.json().get("reason") == "REPLAY")
    except ValueError:
        return False
