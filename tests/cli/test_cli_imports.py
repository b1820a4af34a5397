"""``gsoia --help`` stays quick: the command tree and every help text are built without
importing the node, the web stack, the database or numpy (each command imports what it
uses when it runs). Structural, not timed: a fresh interpreter builds every help text and
reports which heavy modules it loaded. (pydantic is not among them: Typer itself uses it to
build a command's parameters.)"""

from __future__ import annotations

import json
import subprocess
import sys

from cli_support import environment

HEAVY = [
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "numpy",
    "yaml",
    "httpx",
    "msgspec",
    "cryptography",
    "gsoia.node.service",
    "gsoia.catalogue",
    "gsoia.decision",
    "gsoia.api",
]

PROBE = """
import contextlib, io, json, sys

from typer.main import get_command

from gsoia.cli import app

HEAVY = {heavy!r}


def helps(command, path):
    yield path
    for name, sub in getattr(command, "commands", {{}}).items():
        yield from helps(sub, [*path, name])


root = get_command(app)
shown = []
for path in helps(root, []):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        app([*path, "--help"], prog_name="gsoia")
    shown.append([" ".join(path), "Usage:" in out.getvalue()])
loaded = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({{"shown": shown, "loaded": loaded}}))
"""


def test_help_of_every_command_loads_no_heavy_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=environment(None),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    shown = dict(report["shown"])
    # the probe reached every command: the script, its groups and their subcommands
    for command in ("", "decide", "demo", "serve", "catalogue show", "user set", "stix import"):
        assert shown.get(command) is True, (command, report["shown"])
    assert all(shown.values()), report["shown"]
    assert report["loaded"] == [], report["loaded"]


def test_the_script_help_loads_no_heavy_module() -> None:
    """``python -m gsoia --help``, as a user runs it, with the modules left at exit."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps(sorted(m for m in {HEAVY!r}"
        " if m in sys.modules)), file=sys.stderr))\n"
        "sys.argv = ['gsoia', '--help']\n"
        "import runpy\n"
        "runpy.run_module('gsoia', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=environment(None),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
