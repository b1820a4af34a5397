"""Structured logs with a request id, Prometheus metrics, and no secret in any log."""

from __future__ import annotations

import json
import os
import stat
import subprocess

from gsoia.node.users import Role
from tests import loopback
from tests.node.conftest import GSOIA, RunningNode

LABEL = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}
CONTENT = "a sentence only the content holds"


def test_json_logs_metrics_and_no_secrets(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU")
    jpn.add_user("officer", "JPN", "KIMITSU", role=Role.OFFICER)
    jpn.add_user("ca", "CAN", "C")
    jpn.add_user("monitor", "JPN", role=Role.MONITOR)
    jpn.in_process = False  # the process's own JSON log lines are the point
    jpn.start()
    with jpn.client("jp") as jp:
        created = jp.post(
            "/api/v1/items",
            json={"label": LABEL, "title": "t", "content": CONTENT},
            headers={"X-Request-ID": "trace-42"},
        )
        assert created.status_code == 201
        assert created.headers["x-request-id"] == "trace-42"
        item = created.json()["id"]
        assert jp.get(f"/api/v1/items/{item}").status_code == 200
        generated = jp.get("/api/v1/items").headers["x-request-id"]
        assert len(generated) == 32
    with jpn.client("ca") as ca:
        assert ca.get(f"/api/v1/items/{item}").status_code == 200
    with loopback.client(base_url=jpn.url) as anonymous:
        assert (
            anonymous.get("/api/v1/items", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        # the metrics are a monitor's, an officer's or an admin's, nobody else's
        assert anonymous.get("/metrics").status_code == 401
    with jpn.client("jp") as jp:
        refused = jp.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["reason"] == "ROLE"
    for reader in ("monitor", "officer"):
        with jpn.client(reader) as client:
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
    text = metrics.text
    assert 'gsoia_decisions_total{reason="ALLOW"}' in text
    assert "gsoia_request_seconds_bucket" in text
    jpn.stop()

    log = (jpn.data / "serve.log").read_text("utf-8")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert any(r["request_id"] == "trace-42" and r["status"] == 201 for r in requests)
    assert any(r["status"] == 401 for r in requests)
    assert all({"method", "path", "status", "ms", "request_id"} <= set(r) for r in requests)
    # nothing secret: no token, no key material, no content
    for token in jpn.tokens.values():
        assert token not in log
    assert CONTENT not in log
    for key_file in (jpn.data / "keys").iterdir():
        raw = key_file.read_bytes()
        assert raw.hex() not in log
        for line in raw.decode("latin-1").splitlines():
            if len(line) > 20 and "-----" not in line:
                assert line not in log


def test_key_files_are_private_and_a_readable_one_stops_the_server(jpn: RunningNode) -> None:
    for key_file in (jpn.data / "keys").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    signing = jpn.data / "keys" / "signing.key"
    os.chmod(signing, 0o644)
    done = subprocess.run(
        [GSOIA, "serve", "--data", str(jpn.data), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "signing.key" in done.stderr
    assert "chmod 600" in done.stderr
    assert "Traceback" not in done.stderr
