"""What a decision says (docs/decision.md §4): allow or the reason, the agreement, the marking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec


class Reason(StrEnum):
    """The reason codes of docs/decision.md §3: the first rule that fails, or ALLOW."""

    ALLOW = "ALLOW"
    CLEARANCE = "CLEARANCE"
    NEED_TO_KNOW = "NEED_TO_KNOW"
    NOT_RELEASABLE = "NOT_RELEASABLE"
    THIRD_PARTY = "THIRD_PARTY"
    NO_AGREEMENT = "NO_AGREEMENT"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    NO_EQUIVALENT = "NO_EQUIVALENT"


@dataclass(frozen=True)
class LevelRef:
    """A level of a policy, with its name as the policy writes it."""

    policy: str
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.policy} {self.name}"

    def described(self) -> str:
        """``JPN GOKUHI (極秘)``; just ``CAN SECRET`` where the name is the id."""
        if self.name == self.id:
            return f"{self.policy} {self.id}"
        return f"{self.policy} {self.id} ({self.name})"

    def to_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "id": self.id, "name": self.name}


@dataclass(frozen=True)
class Marking:
    """The dual marking: the holder's equivalent level next to the original, never over it."""

    level: LevelRef
    original: LevelRef
    agreement: str | None
    text: str = field(init=False)
    """``CAN SECRET // JPN 極秘 // JPN-CAN``; for a same-nation reader, ``JPN 極秘``."""

    def __post_init__(self) -> None:
        if self.agreement is None:
            text = str(self.original)
        else:
            text = f"{self.level} // {self.original} // {self.agreement}"
        object.__setattr__(self, "text", text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.to_dict(),
            "original": self.original.to_dict(),
            "text": self.text,
        }


class Decision(msgspec.Struct, eq=False):
    """One decision: allow or not, why (the rule), under which agreement, with which marking.

    The explanation sentence is written when it is first read: ``decide`` is a hot path and
    most callers (a listing, a batch) only look at ``allow``. The last field holds the
    sentence or the function that writes it. A msgspec struct: made in a fifth of the time
    of a class with ``__init__``.
    """

    allow: bool
    reason: Reason
    rule: int
    """The rule's number in docs/decision.md §3 (same nation 1-3, foreign 1-8)."""
    agreement: str | None
    marking: Marking | None
    _text: str | Callable[[], str]

    @property
    def explanation(self) -> str:
        """A sentence that cites the rule (and the agreement's article where recorded)."""
        text = self._text
        if not isinstance(text, str):
            text = self._text = text()
        return text

    def to_dict(self) -> dict[str, Any]:
        """docs/decision.md §4, plus the rule number and (also on ALLOW) the explanation."""
        result: dict[str, Any] = {
            "allow": self.allow,
            "reason": self.reason.value,
            "rule": self.rule,
            "agreement": self.agreement,
        }
        if self.marking is not None:
            result["marking"] = self.marking.to_dict()
        result["explanation"] = self.explanation
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decision) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Decision({self.to_dict()!r})"
