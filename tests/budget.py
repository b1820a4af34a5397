"""How many generated examples a Hypothesis property gets.

Each property states its thorough budget, ``examples(n)``: all ``n`` with
``HYPOTHESIS_PROFILE=thorough`` (``make soak``), a third of them (at least 10) otherwise,
which keeps ``make test`` within its time. ``tests/conftest.py`` loads the profile of
the same name for the properties that state no budget of their own.
"""

from __future__ import annotations

import os

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
THOROUGH = PROFILE == "thorough"


def examples(n: int) -> int:
    """``n`` examples when thorough, else a third of them (at least 10)."""
    return n if THOROUGH else max(10, n // 3)
