"""``gsoia spif import|export`` and ``gsoia label parse|render|marking``: the field's label
standards (Open XML SPIF, STANAG 4774) in and out.

Each reads and writes files and stdout only; a document refused (hostile XML, not valid
under its SPIF, a policy the catalogue lacks) is one line on stderr and exit 2, with
nothing printed on stdout.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gsoia.cli.refusal import refuse
from gsoia.errors import GsoiaError

if TYPE_CHECKING:
    from gsoia.catalogue.model import Policy
    from gsoia.labels_xml.label4774 import LabelDocument
    from gsoia.labels_xml.spif_read import SpifPolicy

spif_app = typer.Typer(
    help="Security policies as Open XML SPIFs, in and out of the catalogue.",
    no_args_is_help=True,
)
label_app = typer.Typer(
    help="STANAG 4774 confidentiality labels: parse, render, display marking.",
    no_args_is_help=True,
)

SpifFile = Annotated[
    Path | None,
    typer.Option("--spif", help="The SPIF of the label's policy: the label is checked against it."),
]
Lang = Annotated[
    str | None,
    typer.Option("--lang", help="The marking's language (fr, en-GB); default: the SPIF's own."),
]


class RenderFormat(StrEnum):
    XML_4774 = "4774"
    MARKING = "marking"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        refuse(f"{path}: cannot be read: {e.strerror}")


def _policy(spif: Path) -> Policy:
    from gsoia.labels_xml.spif_read import read_spif

    try:
        return read_spif(_read(spif)).policy
    except GsoiaError as e:
        refuse(e)


@spif_app.command("import")
def import_spif(
    file: Annotated[Path, typer.Argument(help="The SPIF (XML).")],
    nation: Annotated[
        str | None,
        typer.Option("--nation", help="The policy's id in the catalogue (default: from the SPIF)."),
    ] = None,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            "--catalogue",
            help="Print this catalogue with the SPIF's policy in it and its equivalent"
            " classifications as the rows of the agreements (default: the policy alone).",
        ),
    ] = None,
) -> None:
    """Print the catalogue YAML of a SPIF's policy. What the catalogue does not carry is
    named on stderr, one line each; what would change a decision refuses the whole SPIF."""
    from gsoia.labels_xml.policy_yaml import policy_yaml
    from gsoia.labels_xml.spif_read import read_spif

    try:
        read = read_spif(_read(file), nation=nation)
        if catalogue is not None:
            text, notes = _merged(catalogue, read)
        else:
            text, notes = policy_yaml(read.policy_id, read.policy), _unwritten(read)
    except GsoiaError as e:
        refuse(e)
    for note in [*read.notes, *notes]:
        print(f"gsoia: {file}: {note}", file=sys.stderr)
    sys.stdout.write(text)


def _merged(path: Path, read: SpifPolicy) -> tuple[str, list[str]]:
    """The catalogue at ``path`` with the SPIF's policy and rows, as YAML, checked."""
    import yaml

    from gsoia.catalogue import read_catalogue
    from gsoia.catalogue.load import catalogue_from_document
    from gsoia.labels_xml.spif_equivalence import with_spif_policy

    document, notes = with_spif_policy(read_catalogue(path), read)
    catalogue_from_document(document)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return text, notes


def _unwritten(read: SpifPolicy) -> list[str]:
    """The equivalent classifications a policy alone cannot hold, one line each."""
    return [
        f"{equal.place}: not carried (--catalogue writes it as an agreement's rows)"
        for equal in read.equivalents.classes
    ]


@spif_app.command("export")
def export_spif(
    policy: Annotated[str, typer.Option("--policy", help="The policy's id in the catalogue.")],
    catalogue: Annotated[
        Path | None, typer.Option("--catalogue", help="A catalogue file; default: the bundled one.")
    ] = None,
) -> None:
    """Print a policy of the catalogue as a SPIF, which ``gsoia spif import`` reads back to
    the same policy; the rows of its agreements as its equivalent classifications."""
    from gsoia.catalogue import read_catalogue
    from gsoia.labels_xml.spif_equivalence import equivalences
    from gsoia.labels_xml.spif_write import write_spif

    try:
        read = read_catalogue(catalogue)
    except GsoiaError as e:
        refuse(e)
    found = read.policies.get(policy)
    if found is None:
        refuse(f"--policy: no policy '{policy}' in the catalogue")
    written = write_spif(policy, found, equivalences(read, policy))
    sys.stdout.write(written.decode() + "\n")


@label_app.command("parse")
def parse_label(
    file: Annotated[Path, typer.Argument(help="The STANAG 4774 label (XML).")],
    spif: SpifFile = None,
) -> None:
    """Print a STANAG 4774 label as gsoia's JSON label (checked against --spif if given)."""
    from gsoia.labels_xml.label4774 import read_label
    from gsoia.labels_xml.label_check import check_label

    try:
        label = read_label(_read(file))
        if spif is not None:
            check_label(label, _policy(spif))
    except GsoiaError as e:
        refuse(e)
    print(json.dumps(label.model_dump(mode="json", exclude_none=True), ensure_ascii=False))


@label_app.command("render")
def render_label(
    file: Annotated[Path, typer.Argument(help="gsoia's JSON label (what label parse prints).")],
    format: Annotated[
        RenderFormat, typer.Option("--format", help="4774 (the XML) or marking (display text).")
    ] = RenderFormat.XML_4774,
    spif: SpifFile = None,
    lang: Lang = None,
) -> None:
    """Print a JSON label as STANAG 4774 XML or as its display marking."""
    from pydantic import ValidationError

    from gsoia.labels_xml.label4774 import LabelDocument, write_label

    try:
        label = LabelDocument.model_validate_json(_read(file))
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        place = ".".join(str(part) for part in first["loc"])
        refuse(f"{file}: {place}: {first['msg']}" if place else f"{file}: {first['msg']}")
    if format is RenderFormat.MARKING:
        print(_marking(label, spif, lang))
        return
    if spif is not None:
        _marking(label, spif, lang)  # checked against the SPIF before it is written
    sys.stdout.write(write_label(label).decode() + "\n")


@label_app.command("marking")
def label_marking(
    file: Annotated[Path, typer.Argument(help="The STANAG 4774 label (XML).")],
    spif: Annotated[Path, typer.Option("--spif", help="The SPIF of the label's policy.")],
    lang: Lang = None,
) -> None:
    """Print the display marking of a STANAG 4774 label, as its SPIF says."""
    from gsoia.labels_xml.label4774 import read_label

    try:
        label = read_label(_read(file))
    except GsoiaError as e:
        refuse(e)
    print(_marking(label, spif, lang))


def _marking(label: LabelDocument, spif: Path | None, lang: str | None) -> str:
    from gsoia.labels_xml.label_check import check_label
    from gsoia.labels_xml.marking import display_marking, plain_marking

    if spif is None:
        return plain_marking(label)
    policy = _policy(spif)
    try:
        return display_marking(check_label(label, policy), policy, lang)
    except GsoiaError as e:
        refuse(e)
