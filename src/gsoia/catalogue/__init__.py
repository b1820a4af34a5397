"""Policies, groups and agreements: parse, validate, and the bundled catalogue.

Pure: no I/O beyond reading a catalogue file, no clock (dates are arguments).
"""

from gsoia.catalogue.load import parse_catalogue, read_catalogue
from gsoia.catalogue.model import Agreement, Catalogue, Event, Level, Policy, Status

__all__ = [
    "Agreement",
    "Catalogue",
    "Event",
    "Level",
    "Policy",
    "Status",
    "parse_catalogue",
    "read_catalogue",
]
