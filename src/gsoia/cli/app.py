"""The ``gsoia`` command line. Errors are one line on stderr and a non-zero exit, never a
traceback: 2 for invalid input (a refused catalogue or request), 1 for anything else."""

from __future__ import annotations

import sys

import typer

from gsoia.cli import (
    audit_cmd,
    catalogue_cmd,
    decide_cmd,
    demo_cmd,
    item_cmd,
    keys_cmd,
    labels_cmd,
    node_cmd,
    stix_cmd,
    user_cmd,
    visit_cmd,
)

app = typer.Typer(
    name="gsoia",
    help="Share classified information under security-of-information agreements.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("decide")(decide_cmd.decide)
app.add_typer(catalogue_cmd.app, name="catalogue")
app.command("demo")(demo_cmd.demo)
app.command("init")(node_cmd.init)
user_cmd.register(node_cmd.user_app)
app.add_typer(node_cmd.user_app, name="user")
app.add_typer(node_cmd.peer_app, name="peer")
app.add_typer(keys_cmd.app, name="keys")
app.command("serve")(node_cmd.serve)
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(stix_cmd.app, name="stix")
app.add_typer(visit_cmd.assurance_app, name="assurance")
app.add_typer(visit_cmd.visit_app, name="visit")
app.add_typer(labels_cmd.spif_app, name="spif")
app.add_typer(labels_cmd.label_app, name="label")
app.add_typer(item_cmd.app, name="item")


def main() -> None:
    """Entry point of the ``gsoia`` script."""
    try:
        app()
    except KeyboardInterrupt:
        print("gsoia: interrupted", file=sys.stderr)
        sys.exit(130)
