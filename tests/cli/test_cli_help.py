"""``--help`` of the script, of every command and subcommand: exit 0 and say what it does."""

from __future__ import annotations

import pytest
from cli_support import Runner, no_traceback

HELP = [
    pytest.param((), ["decide", "catalogue", "demo", "agreements"], id="gsoia"),
    pytest.param(
        ("decide",), ["decide who may see", "--catalogue", "--jsonl", "stdin"], id="decide"
    ),
    pytest.param(("catalogue",), ["check", "show", "catalogue"], id="catalogue"),
    pytest.param(("catalogue", "check"), ["validate a catalogue", "file"], id="catalogue-check"),
    pytest.param(
        ("catalogue", "show"), ["agreement matrix", "--at", "--json"], id="catalogue-show"
    ),
    pytest.param(("demo",), ["japan", "canada"], id="demo"),
    pytest.param(("spif",), ["import", "export", "spif"], id="spif"),
    pytest.param(("spif", "import"), ["catalogue yaml", "--nation"], id="spif-import"),
    pytest.param(("spif", "export"), ["as a spif", "--policy", "--catalogue"], id="spif-export"),
    pytest.param(("label",), ["parse", "render", "marking"], id="label"),
    pytest.param(("label", "parse"), ["json label", "--spif"], id="label-parse"),
    pytest.param(("label", "render"), ["--format", "--spif", "--lang"], id="label-render"),
    pytest.param(("label", "marking"), ["display marking", "--spif", "--lang"], id="label-mark"),
    pytest.param(("item",), ["export", "import", "4778"], id="item"),
    pytest.param(("item", "export"), ["binding", "--format", "--user", "--data"], id="item-export"),
    pytest.param(("item", "import"), ["signature", "--user", "--data"], id="item-import"),
    pytest.param(
        ("user",),
        ["add", "list", "disable", "enable", "rotate-token", "set", "remove"],
        id="user",
    ),
    pytest.param(("user", "list"), ["accounts", "--data", "--database", "never a token"], id="ul"),
    pytest.param(("user", "disable"), ["disable an account", "--id", "--database"], id="udis"),
    pytest.param(("user", "enable"), ["enable a disabled account", "--id"], id="uen"),
    pytest.param(("user", "rotate-token"), ["new api token", "print it once", "--id"], id="urot"),
    pytest.param(
        ("user", "set"),
        [
            "change an account",
            "--clearance",
            "--clearance-expires",
            "--need-to-know",
            "--no-need-to-know",
            "--role",
        ],
        id="uset",
    ),
    pytest.param(("user", "remove"), ["remove an account", "--id", "--database"], id="urm"),
    pytest.param(("assurance",), ["issue", "list", "withdraw"], id="assurance"),
    pytest.param(
        ("assurance", "issue"),
        ["assure a person", "--to", "--person-id", "--clearance", "--expires"],
        id="aiss",
    ),
    pytest.param(
        ("visit",),
        ["request", "list", "approve", "refuse", "ask", "end", "cancel", "tokens"],
        id="visit",
    ),
    pytest.param(
        ("visit", "request"), ["request a visit", "--visitor", "--first-day", "--kind"], id="vreq"
    ),
    pytest.param(("visit", "tokens"), ["shown once", "--id"], id="vtok"),
]


@pytest.mark.parametrize(("command", "phrases"), HELP)
def test_help_exits_0_and_describes_the_command(
    run: Runner, command: tuple[str, ...], phrases: list[str]
) -> None:
    result = run(*command, "--help")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = result.stdout
    assert "Usage:" in text
    assert " ".join(("gsoia", *command)) in text
    for phrase in phrases:
        assert phrase.lower() in text.lower(), (phrase, text)


def test_no_command_shows_the_usage(run: Runner) -> None:
    result = run()
    no_traceback(result)
    assert "Usage:" in result.stdout + result.stderr
    assert "decide" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(("bogus",), "bogus", id="unknown-command"),
        pytest.param(("decide", "--bogus"), "--bogus", id="unknown-option"),
        pytest.param(("catalogue", "check"), "file", id="missing-argument"),
        pytest.param(("catalogue", "frobnicate"), "frobnicate", id="unknown-subcommand"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    run: Runner, args: tuple[str, ...], named: str
) -> None:
    result = run(*args)
    no_traceback(result)
    assert result.returncode == 2
    assert result.stdout == ""
    assert named.lower() in result.stderr.lower()
