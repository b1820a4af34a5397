"""Helpers for the CLI tests: the ``gsoia`` command line run in this process (Typer's
``CliRunner``), or the installed script in a subprocess where the process is the point
(its locale, its imports, a demo that serves nodes).

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``);
the fixtures built on it live in ``conftest.py``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

GSOIA = Path(sys.executable).parent / "gsoia"

Result = subprocess.CompletedProcess[str]
Runner = Callable[..., Result]

# docs/decision.md §2, verbatim.
REQUEST: dict[str, Any] = {
    "subject": {
        "id": "can-0042",
        "nation": "CAN",
        "clearance": "S",
        "clearance_expires": "2027-06-30",
        "need_to_know": ["maritime"],
    },
    "label": {
        "originator": "JPN",
        "classification": "GOKUHI",
        "area": "defence",
        "releasable_to": ["CAN", "FVEY"],
        "need_to_know": ["maritime"],
    },
    "custodian": "JPN",
    "consented_to": [],
    "at": "2026-03-01",
}

MARKING_TEXT = "CAN SECRET // JPN 極秘 // JPN-CAN"

# docs/decision.md §4, verbatim.
MARKING: dict[str, Any] = {
    "level": {"policy": "CAN", "id": "S", "name": "SECRET"},
    "original": {"policy": "JPN", "id": "GOKUHI", "name": "極秘"},
    "text": MARKING_TEXT,
}

# A small catalogue that differs from the bundled one: JPN GOKUHI is protected as CAN TOP
# SECRET, so the §2 subject (CAN SECRET) is refused for CLEARANCE under it.
SMALL_CATALOGUE: dict[str, Any] = {
    "policies": {
        "JPN": {
            "name": "Japan",
            "levels": [
                {"id": "HI", "name": "秘"},
                {"id": "GOKUHI", "name": "極秘"},
                {"id": "KIMITSU", "name": "機密"},
            ],
        },
        "CAN": {
            "name": "Canada",
            "levels": [
                {"id": "C", "name": "CONFIDENTIAL"},
                {"id": "S", "name": "SECRET"},
                {"id": "TS", "name": "TOP SECRET"},
            ],
        },
    },
    "groups": {"FVEY": ["CAN"]},
    "agreements": [
        {
            "id": "JPN-CAN",
            "title": "A test agreement",
            "parties": ["JPN", "CAN"],
            "scope": ["*"],
            "events": [{"status": "in_force", "date": "2020-01-01"}],
            "equivalence": [
                {"JPN": ["KIMITSU", "GOKUHI"], "CAN": "TS"},
                {"JPN": "HI", "CAN": "C"},
            ],
        }
    ],
}


def request(**changes: Any) -> dict[str, Any]:
    """A deep copy of the §2 request; ``changes`` replace top-level keys."""
    doc = copy.deepcopy(REQUEST)
    doc.update(changes)
    return doc


def small_catalogue() -> dict[str, Any]:
    """A deep copy of ``SMALL_CATALOGUE``, free to edit."""
    return copy.deepcopy(SMALL_CATALOGUE)


def compact(doc: Any) -> str:
    """One JSON line, UTF-8 unescaped."""
    return json.dumps(doc, ensure_ascii=False)


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment, made deterministic for output checks."""
    env = dict(os.environ)
    # Plain output whatever the caller's terminal settings: wide enough not to wrap
    # tables, and no forced colour codes.
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE"):
        env.pop(name, None)
    env["COLUMNS"] = "200"
    if extra:
        env.update(extra)
    return env


def run_gsoia(
    *args: str,
    input: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Result:
    """The installed script with ``args``; text in and out as UTF-8."""
    return subprocess.run(
        [str(GSOIA), *args],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        cwd=cwd,
        env=environment(env),
        check=False,
    )


def run_in_process(
    *args: str,
    input: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Result:
    """``run_gsoia`` without the process: the Typer app invoked in this one, in ``cwd``,
    with the environment ``environment(env)`` makes; an exception that escapes the app is
    what the script would print (a traceback on stderr, exit 1). ``timeout`` is unused."""
    from typer.testing import CliRunner

    from gsoia.cli.app import app

    wanted = environment(env)
    changes: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    changes |= {k: v for k, v in wanted.items() if os.environ.get(k) != v}
    before = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        outcome = CliRunner().invoke(app, list(args), input=input, env=changes)
    finally:
        os.chdir(before)
    code, stderr = outcome.exit_code, outcome.stderr
    error = outcome.exception
    if error is not None and not isinstance(error, SystemExit):
        stderr += "".join(traceback.format_exception(error))
        code = 1
    return subprocess.CompletedProcess(["gsoia", *args], code, outcome.stdout, stderr)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stdout, result.stdout
    assert "Traceback" not in result.stderr, result.stderr


def assert_refused(result: Result, *fragments: str) -> str:
    """A clean refusal of invalid input; returns its one stderr line.

    Exit 2, nothing on stdout, exactly one stderr line starting ``gsoia:`` that contains
    every fragment, and no traceback anywhere.
    """
    no_traceback(result)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("gsoia:"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def decision(result: Result) -> dict[str, Any]:
    """The one decision a successful ``gsoia decide`` printed."""
    no_traceback(result)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines
    doc = json.loads(lines[0])
    assert isinstance(doc, dict)
    return doc
