"""Decisions as people read them: by their reason code, the rule number only a detail.

The release decision numbers its rules separately for a reader of the originator's own
nation and for a foreign reader, so "Rule 2" names two different rules; the reason code
(``NEED_TO_KNOW``, ``THIRD_PARTY``, ...) names one. The decision core writes each
explanation as ``Rule N (CODE): sentence``; the pages show it as ``CODE: sentence``.
"""

from __future__ import annotations

import re

_RULE_FIRST = re.compile(r"^Rule (\d+) \(([A-Z_]+)\): ")


def reason_first(explanation: str) -> str:
    """``Rule 2 (THIRD_PARTY): GBR holds...`` → ``THIRD_PARTY: GBR holds...``; any other
    text as it is."""
    return _RULE_FIRST.sub(r"\2: ", explanation, count=1)
