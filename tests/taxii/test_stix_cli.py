"""``gsoia stix import`` / ``export``: the real script, beside a running server on the same
store (what the CLI stores, the server serves at its next request)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gsoia.node.stix import EXTENSION_ID, IDENTITY_ID
from tests.node.conftest import GSOIA, RunningNode
from tests.taxii.support import collection, indicator, label, stix_problems


def gsoia(node: RunningNode, *args: str) -> subprocess.CompletedProcess[str]:
    database = ["--database", node.database.url] if node.database.url else []
    return subprocess.run(
        [GSOIA, "stix", *args, "--data", str(node.data), *database],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_import_and_export_bundles(taxii_node: RunningNode, tmp_path: Path) -> None:
    objects = [indicator(n) for n in range(600)]  # two batches of the default 500
    objects.append(indicator(9000, extension=label("HI", ("FVEY",))))
    objects.append(indicator(9001, extensions={}))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}))
    done = gsoia(taxii_node, "import", str(bundle), "--user", "jp")
    assert done.returncode == 1, done.stderr  # one refused
    assert done.stdout.strip() == "stored 601, already present 0, refused 1"
    assert "no confidentiality label" in done.stderr
    again = gsoia(taxii_node, "import", str(bundle), "--user", "jp", "--batch", "1000")
    assert again.stdout.strip() == "stored 0, already present 601, refused 1"
    # the running server serves what the CLI stored
    served = collection(taxii_node, "ca-c").get_objects()["objects"]
    assert [o["id"] for o in served] == [objects[600]["id"]]
    out = tmp_path / "out.json"
    exported = gsoia(taxii_node, "export", "--user", "ca-s", "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    written = json.loads(out.read_text())
    assert written["type"] == "bundle"
    assert [o["id"] for o in written["objects"][:2]] == [IDENTITY_ID, EXTENSION_ID]
    assert {o["id"] for o in written["objects"][2:]} == {o["id"] for o in objects[:601]}
    for obj in written["objects"][:3] + written["objects"][-2:]:
        assert stix_problems(obj) == []
    # an export imports back: nothing new, the definitions skipped
    back = gsoia(taxii_node, "import", str(out), "--user", "jp")
    assert back.stdout.strip() == "stored 0, already present 601, refused 0"
    to_stdout = gsoia(taxii_node, "export", "--user", "ca-c")
    assert len(json.loads(to_stdout.stdout)["objects"]) == 3


def test_cli_refusals(taxii_node: RunningNode, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text("{not json")
    bad = gsoia(taxii_node, "import", str(bundle), "--user", "jp")
    assert bad.returncode == 2
    assert bad.stderr.startswith("gsoia: ")
    assert "Traceback" not in bad.stderr
    bundle.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": []}))
    nobody = gsoia(taxii_node, "import", str(bundle), "--user", "nobody")
    assert nobody.returncode == 2
    assert "no user 'nobody'" in nobody.stderr
    foreign = gsoia(taxii_node, "import", str(bundle), "--user", "ca-s")
    assert foreign.returncode == 1
    assert "item.create is for users of JPN, not CAN" in foreign.stderr
    help_text = subprocess.run(
        [GSOIA, "stix", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert "import" in help_text.stdout
    assert "export" in help_text.stdout
    assert sys.executable
