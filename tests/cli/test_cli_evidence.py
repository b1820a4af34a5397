"""``gsoia audit prove`` and ``gsoia audit check``: evidence checked with nothing but itself.

The commands run in process (Typer's runner) on a node made here; a bundle checks, and
every kind of change to it — one byte of an entry, a proof hash, the head, a forged key —
is refused with the place named.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from gsoia.audit.evidence import EvidenceError, check_bundle
from gsoia.audit.log import head_message
from gsoia.cli.app import app
from gsoia.crypto.signing import sign
from gsoia.node.service import Node

LABEL = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], bytes]:
    """A node with three items, each read and one reported lost."""
    data = tmp_path_factory.mktemp("evidence") / "jpn"
    node = Node.init(data, "JPN")
    try:
        user, _ = node.add_user("a1", "JPN", clearance="KIMITSU")
        ids = [node.create_item(user, LABEL, f"Report {i}", b"text")["id"] for i in range(3)]
        for item_id in ids:
            node.read_item(user, item_id)
        node.report_incident(user, ids[0], "loss", "left on a train")
        key = node.public.signing
    finally:
        node.close()
    return data, ids, key


def gsoia(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def proven(made: tuple[Path, list[str], bytes], tmp_path: Path, *extra: str) -> Path:
    data = made[0]
    out = tmp_path / "evidence.json"
    result = gsoia("audit", "prove", "--data", str(data), "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    return out


def test_the_entries_about_an_item_are_proven(
    made: tuple[Path, list[str], bytes], tmp_path: Path
) -> None:
    _, ids, key = made
    out = proven(made, tmp_path, "--item", ids[0])
    bundle = json.loads(out.read_text())
    kinds = [json.loads(e["body"])["kind"] for e in bundle["entries"]]
    assert "item.created" in kinds
    assert "item.read" in kinds
    assert "incident.reported" in kinds or any(k.startswith("incident") for k in kinds)
    assert all(json.loads(e["body"])["data"].get("item") == ids[0] for e in bundle["entries"])
    result = gsoia("audit", "check", str(out), "--key", key.hex())
    assert result.exit_code == 0, result.output
    assert f"{len(kinds)} entries of JPN's audit log, proven" in result.output
    assert "(the key given)" in result.output


def test_a_period_is_proven(made: tuple[Path, list[str], bytes], tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = proven(made, tmp_path, "--from", today, "--to", today)
    bundle = json.loads(out.read_text())
    assert [e["seq"] for e in bundle["entries"]] == list(range(bundle["head"]["size"]))
    assert check_bundle(out.read_bytes()).entries == bundle["head"]["size"]


def test_nothing_to_prove_is_refused_and_nothing_written(
    made: tuple[Path, list[str], bytes], tmp_path: Path
) -> None:
    data, _, _ = made
    out = tmp_path / "evidence.json"
    for args, named in (
        (["--item", "no-such-item"], "--item"),
        ([], "--item"),
        (["--from", "2026-12-07", "--to", "2026-12-06"], "--to"),
        (["--from", "1999-01-01", "--to", "1999-01-02"], "--from"),
        (["--from", "yesterday"], "--from"),
    ):
        result = gsoia("audit", "prove", "--data", str(data), "--out", str(out), *args)
        assert result.exit_code != 0, result.output
        assert named in result.output
        assert not out.exists()


def _flip_hex(text: str) -> str:
    return ("1" if text[0] == "0" else "0") + text[1:]


def _forged_key(bundle: dict[str, Any]) -> None:
    """A head of another key, and that key in the bundle: checks only against the bundle's
    own keys, refused against the node's key."""
    forger = Ed25519PrivateKey.generate()
    head = bundle["head"]
    root = bytes.fromhex(head["root"])
    head["signature"] = sign(forger, head_message(head["size"], root)).hex()
    bundle["signing_keys"] = [
        forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    ]


def _body(bundle: dict[str, Any]) -> None:
    entry = bundle["entries"][0]
    data = json.loads(entry["body"])
    data["actor"] = "someone-else"
    entry["body"] = json.dumps(data, sort_keys=True, separators=(",", ":"))


def _path(bundle: dict[str, Any]) -> None:
    path = bundle["entries"][-1]["inclusion_path"]
    path[0] = _flip_hex(path[0])


def _seq(bundle: dict[str, Any]) -> None:
    bundle["entries"][0]["seq"] += 1


def _root(bundle: dict[str, Any]) -> None:
    bundle["head"]["root"] = _flip_hex(bundle["head"]["root"])


def _size(bundle: dict[str, Any]) -> None:
    bundle["head"]["size"] += 1


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (_body, "entries[0]"),
        (_path, "entries["),
        (_seq, "entries[0].seq"),
        (_root, "head"),
        (_size, "head"),
        (_forged_key, "head"),
    ],
    ids=["entry-body", "proof-hash", "entry-seq", "head-root", "head-size", "forged-key"],
)
def test_a_changed_bundle_is_refused(
    made: tuple[Path, list[str], bytes], tmp_path: Path, change: Any, place: str
) -> None:
    _, ids, key = made
    out = proven(made, tmp_path, "--item", ids[1])
    bundle = json.loads(out.read_text())
    change(bundle)
    out.write_text(json.dumps(bundle))
    result = gsoia("audit", "check", str(out), "--key", key.hex())
    assert result.exit_code == 1, result.output
    assert f"gsoia: {place}" in result.output
    with pytest.raises(EvidenceError):
        check_bundle(out.read_bytes(), key)


def test_one_byte_changed_anywhere_is_refused(
    made: tuple[Path, list[str], bytes], tmp_path: Path
) -> None:
    _, ids, key = made
    out = proven(made, tmp_path, "--item", ids[2])
    raw = out.read_bytes()
    refused = 0
    for at in range(0, len(raw), 7):
        changed = bytearray(raw)
        changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
        try:
            checked = check_bundle(bytes(changed), key)
        except EvidenceError:
            refused += 1
        else:  # only a change that leaves the same document (whitespace, key order) passes
            assert json.loads(bytes(changed)) == json.loads(raw), at
            assert checked.entries == len(json.loads(raw)["entries"])
    assert refused > len(raw) // 7 // 2


def test_one_byte_changed_is_refused_by_the_command(
    made: tuple[Path, list[str], bytes], tmp_path: Path
) -> None:
    """``gsoia audit check`` on the file with one byte changed (at every 61st byte; the
    library is tried at every 7th above): exit 1, nothing said proven."""
    _, ids, key = made
    out = proven(made, tmp_path, "--item", ids[1])
    raw = out.read_bytes()
    changed_file = tmp_path / "changed.json"
    refused = 0
    for at in range(0, len(raw), 61):
        changed = bytearray(raw)
        changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
        changed_file.write_bytes(bytes(changed))
        result = gsoia("audit", "check", str(changed_file), "--key", key.hex())
        try:
            same = json.loads(bytes(changed)) == json.loads(raw)
        except ValueError:
            same = False
        if same:  # whitespace or key order: the same document
            assert result.exit_code == 0, (at, result.output)
            continue
        assert result.exit_code == 1, (at, result.output)
        assert "audit log, proven" not in result.output, at
        assert result.output.startswith("gsoia: "), (at, result.output)
        refused += 1
    assert refused > len(raw) // 61 // 2


def test_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    for text, place in (("{", "bundle"), ("[]", "bundle"), ('{"gsoia_evidence": 2}', "bundle")):
        path.write_text(text)
        result = gsoia("audit", "check", str(path))
        assert result.exit_code == 1, result.output
        assert f"gsoia: {place}:" in result.output
    result = gsoia("audit", "check", str(tmp_path / "missing.json"))
    assert result.exit_code == 2
    assert "cannot be read" in result.output
