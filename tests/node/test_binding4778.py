"""An item as a signed ADatP-4778 binding (``gsoia item export --format 4778``) and back
(``gsoia item import``): the signature binds the content and the labels, verifies with
the node's public signing key alone, and a binding altered or signed by another key is
refused, audited, with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from defusedxml.ElementTree import fromstring
from sqlalchemy import func, select

from gsoia.errors import InputError
from gsoia.node.binding4778 import DSIG, export_item, import_item, read_binding, write_binding
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.store.schema import audit_entries
from tests.cli.cli_support import run_in_process


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("binding")) / "jpn"


@pytest.fixture(scope="module")
def node(data_dir: Path) -> Iterator[Node]:
    opened = Node.init(data_dir, "JPN")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def analyst(node: Node) -> User:
    return node.add_user("analyst", "JPN", clearance="KIMITSU", role=Role.ANALYST)[0]


def _item(node: Node, analyst: User, content: bytes = b"the content") -> str:
    label = {"originator": "JPN", "classification": "GOKUHI", "releasable_to": ["CAN"]}
    return str(node.create_item(analyst, label, "a report", content)["id"])


def _refusals(node: Node) -> int:
    with node.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(audit_entries.c.kind == "refused")
            ).scalar_one()
        )


def test_an_exported_item_verifies_with_the_public_key_alone(node: Node, analyst: User) -> None:
    binding = export_item(node, analyst, _item(node, analyst))
    read = read_binding(binding, lambda signer: [node.public.signing] if signer == "JPN" else [])
    assert (read.signer, read.title, read.content) == ("JPN", "a report", b"the content")
    assert [(x.kind.value, x.policy, x.classification) for x in read.labels] == [
        ("originatorConfidentialityLabel", "Japan", "極秘")
    ]
    root = fromstring(binding)
    assert root.find(f"{{{DSIG}}}Signature") is not None


def test_export_then_import_stores_a_new_item_of_the_same_content_and_level(
    node: Node, analyst: User
) -> None:
    item_id = _item(node, analyst, b"\x00\x01 binary")
    view = import_item(node, analyst, export_item(node, analyst, item_id))
    assert view["id"] != item_id
    assert view["label"]["classification"] == "GOKUHI"
    assert node.read_item(analyst, view["id"])["content_b64"] == "AAEgYmluYXJ5"


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda b: b.replace("極秘".encode(), "秘".encode()), "binding.Signature.SignedInfo"),
        (
            lambda b: b.replace(b'title="a report"', b'title="a rapport"'),
            "binding.Signature.SignedInfo",
        ),
        (
            lambda b: b.split(b"<ds:Signature")[0] + b"</mb:BindingInformation>",
            "binding.Signature",
        ),
        (
            lambda b: b.replace(b"<ds:KeyName>JPN", b"<ds:KeyName>CAN"),
            "binding.Signature.SignatureValue",
        ),
    ],
)
def test_an_altered_binding_is_refused_audited_and_nothing_stored(
    node: Node, analyst: User, change: object, place: str
) -> None:
    binding = change(export_item(node, analyst, _item(node, analyst)))  # type: ignore[operator]
    items, refusals = node.list_page(analyst).total, _refusals(node)
    with pytest.raises(InputError) as caught:
        import_item(node, analyst, binding)
    assert caught.value.place == place
    assert node.list_page(analyst).total == items
    assert _refusals(node) == refusals + 1


def test_a_binding_signed_by_another_key_is_refused(node: Node, analyst: User) -> None:
    stranger = Ed25519PrivateKey.generate()
    view = node.read_item(analyst, _item(node, analyst))
    from gsoia.node.labels4774 import item_labels

    forged = write_binding(
        item_labels(node.rulebook.catalogue, view), "x", "forged", b"x", "JPN", stranger.sign
    )
    with pytest.raises(InputError, match="does not verify with a key of 'JPN'"):
        import_item(node, analyst, forged)


def test_the_commands(node: Node, analyst: User, data_dir: Path, tmp_path: Path) -> None:
    item_id = _item(node, analyst)
    data = str(data_dir)
    out = tmp_path / "item.xml"
    exported = run_in_process(
        "item", "export", item_id, "--format", "4778", "--data", data, "--user", "analyst",
        "-o", str(out),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    imported = run_in_process("item", "import", str(out), "--data", data, "--user", "analyst")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() != item_id
    bad = tmp_path / "bad.xml"
    bad.write_bytes(out.read_bytes().replace("極秘".encode(), "秘".encode()))
    refused = run_in_process("item", "import", str(bad), "--data", data, "--user", "analyst")
    assert refused.returncode == 2
    assert refused.stderr.startswith("gsoia: binding.Signature.SignedInfo: does not match")


def test_what_a_4774_label_cannot_say_travels_in_the_binding_signed(node: Node) -> None:
    """Area, need-to-know, and a releasability Japan's policy has no category for."""
    user = node.add_user("navy", "JPN", clearance="KIMITSU", need_to_know=["maritime"])[0]
    label = {
        "originator": "JPN",
        "classification": "HI",
        "area": "defence",
        "releasable_to": ["CAN", "FVEY"],
        "need_to_know": ["maritime"],
    }
    item_id = str(node.create_item(user, label, "patrols", b"x")["id"])
    binding = export_item(node, user, item_id)
    assert b"<gsoia:NeedToKnow>maritime</gsoia:NeedToKnow>" in binding
    imported = import_item(node, user, binding)
    assert imported["label"] == label
    with pytest.raises(InputError) as caught:  # the handling is signed with the rest
        import_item(node, user, binding.replace(b">maritime<", b">aviation<"))
    assert caught.value.place == "binding.Signature.SignedInfo"
