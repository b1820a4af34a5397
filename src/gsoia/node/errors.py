"""What a node refuses, by kind: one place (``gsoia.api.problems``) maps these to HTTP."""

from __future__ import annotations

from gsoia.decision import Decision
from gsoia.errors import GsoiaError


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
