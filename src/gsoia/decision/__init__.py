"""The release decision: pure rules over a catalogue, one at a time or vectorised.

Pure: no I/O, no clock (the date is an argument; "today" is handed in by the caller).
"""

from gsoia.decision.labels import LabelTable
from gsoia.decision.request import Label, Request, Subject
from gsoia.decision.rulebook import Rulebook
from gsoia.decision.ruling import Decision, LevelRef, Marking, Reason

__all__ = [
    "Decision",
    "Label",
    "LabelTable",
    "LevelRef",
    "Marking",
    "Reason",
    "Request",
    "Rulebook",
    "Subject",
]
