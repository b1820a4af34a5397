"""The roots of gsoia's errors.

Every error that crosses a trust boundary carries the place (a dotted path into the
document or request, such as ``agreements[3].equivalence[1]``) and the reason. One place
maps them to CLI exit codes (``gsoia.cli``) and, later, one to HTTP problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, at one place."""

    place: str
    reason: str

    def __str__(self) -> str:
        return f"{self.place}: {self.reason}" if self.place else self.reason


class GsoiaError(Exception):
    """Base of every error gsoia raises on purpose."""

    def diagnostics(self) -> str:
        """One line for a human: what is wrong and where (a value quoted in it with a line
        break or another unprintable character shows it escaped)."""
        return printable(str(self))


def printable(text: str) -> str:
    """``text`` with every unprintable character escaped as Python writes it (``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InputError(GsoiaError):
    """An input document was refused; nothing of it was used.

    Attributes:
        problems: every problem found, in document order (at least one).
    """

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("an InputError needs at least one problem")
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")

    @classmethod
    def of(cls, place: str, reason: str) -> InputError:
        """An error with one problem."""
        return cls([Problem(place, reason)])

    @property
    def place(self) -> str:
        return self.problems[0].place

    @property
    def reason(self) -> str:
        return self.problems[0].reason


class CatalogueError(InputError):
    """A catalogue was refused on load (docs/decision.md §1)."""


class RequestError(InputError):
    """A decision request or a label was malformed (docs/decision.md §2): not a decision."""
