"""What a node refuses, by kind, and how each kind is answered over HTTP (``ANSWERS``: the
one table the REST API, TAXII and the web pages read)."""

from __future__ import annotations

from dataclasses import dataclass

from gsoia.crypto.errors import CryptoError
from gsoia.decision import Decision
from gsoia.errors import GsoiaError, InputError


class NodeError(GsoiaError):
    """A use case of the node was refused.

    ``audited`` is True when the node has already written the refusal to its audit log
    (with more detail than the HTTP layer knows); otherwise the HTTP layer writes it.
    """

    def __init__(self, message: str, *, audited: bool = False) -> None:
        super().__init__(message)
        self.audited = audited


class Unauthorized(NodeError):
    """No valid credentials."""


class TamperedAccount(Unauthorized):
    """The credentials are an account's whose row no longer matches the node's signature or
    its latest version: edited or put back behind the node's back, so trusted by no one."""


class Forbidden(NodeError):
    """The caller's role (or nation) does not permit this action.

    ``code``: the authority's reason code (``gsoia.node.authority.Refusal``).
    """

    def __init__(self, message: str, *, code: str = "ROLE", audited: bool = False) -> None:
        super().__init__(message, audited=audited)
        self.code = code


class NotFound(NodeError):
    """No such item (or none the caller may know of)."""


class Denied(NodeError):
    """The release decision refused access; carries the decision."""

    def __init__(self, decision: Decision, *, audited: bool = False) -> None:
        self.decision = decision
        super().__init__(f"{decision.reason.value}: {decision.explanation}", audited=audited)


class Conflict(NodeError):
    """The request contradicts the node's state (e.g. a user id already taken)."""


class IntegrityFailure(NodeError):
    """Stored data no longer matches its signature: edited behind the node's back."""


@dataclass(frozen=True)
class Answer:
    """How a refusal is answered: the HTTP status and words of the REST API and the web
    pages (RFC 9457 ``type`` slug, title), and TAXII 2.1's where §3.6 differs."""

    status: int
    slug: str
    title: str
    taxii_status: int
    taxii_title: str


ANSWERS: list[tuple[type[GsoiaError], Answer]] = [
    (InputError, Answer(422, "invalid", "Invalid request", 400, "Bad request")),
    (TamperedAccount, Answer(401, "integrity", "Integrity failure", 401, "Unauthorized")),
    (Unauthorized, Answer(401, "unauthorized", "Not signed in", 401, "Unauthorized")),
    (Denied, Answer(403, "denied", "Refused by the release decision", 403, "Forbidden")),
    (Forbidden, Answer(403, "forbidden", "Not permitted", 403, "Forbidden")),
    (NotFound, Answer(404, "not-found", "Not found", 404, "Not found")),
    (Conflict, Answer(409, "conflict", "Conflict", 409, "Conflict")),
    (IntegrityFailure, Answer(500, "integrity", "Integrity failure", 500, "Integrity failure")),
    (CryptoError, Answer(500, "integrity", "Integrity failure", 500, "Integrity failure")),
]
"""Each kind of refusal and its answer; the first kind an error is an instance of wins."""

REFUSED = Answer(400, "refused", "Refused", 400, "Refused")
"""The answer to a refusal of no kind above."""


def answer_for(error: GsoiaError) -> Answer:
    """How ``error`` is answered over HTTP."""
    return next((answer for kind, answer in ANSWERS if isinstance(error, kind)), REFUSED)
