"""The federation benchmark's two nodes: JPN's items (made in process), the users, the
``witnessing`` setting, and each node served by a real ``gsoia serve`` process on a free
loopback port, pinned to its partner with ``gsoia peer add``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import processes
from gsoia.node.service import Node
from gsoia.node.users import Role, User

WITNESSING_RATIO = 0.90
"""Federation with witnessing (heads sent and checked, the anchor kept) over without it."""
GSOIA = str(Path(sys.executable).parent / "gsoia")
TOPICS = ("maritime", "missile", "cyber", "space")
# Every label is releasable to CAN under JPN-CAN (scope "*"): levels with a Canadian
# equivalent, CAN named or through FVEY, 0-2 need-to-know topics.
LEVELS = ("HI", "GOKUHI", "TOKUTEI", "KIMITSU")
AREAS = (None, "maritime", "air", "cyber")
RELEASABLE = (("CAN",), ("FVEY",), ("CAN", "USA"), ("CAN", "AUS", "GBR"))


@dataclass
class Served:
    """A node's data directory and its ``gsoia serve`` process."""

    nation: str
    data: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data.resolve() / "gsoia.db"

    def start(self) -> None:
        self.port = processes.free_port()
        args = [GSOIA, "serve", "--data", str(self.data), "--port", str(self.port)]
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        failed = processes.wait_until_healthy(self.url, self.process, 60)
        if failed:
            raise RuntimeError(f"{self.nation} {failed}:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        with suppress(OSError):
            return (self.data / "serve.log").read_text()[-4000:]
        return ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux)."""
        if self.process is None:
            return None
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(node: Served, peer: Served) -> None:
    """``gsoia peer add`` on ``node`` for ``peer`` (both running)."""
    args = [GSOIA, "peer", "add", "--data", str(node.data), "--nation", peer.nation]
    args += ["--url", peer.url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"gsoia peer add on {node.nation}: {done.stderr}")


def make_labels(n: int, rng: random.Random) -> list[dict[str, Any]]:
    labels = []
    for _ in range(n):
        label: dict[str, Any] = {
            "originator": "JPN",
            "classification": rng.choice(LEVELS),
            "releasable_to": list(rng.choice(RELEASABLE)),
            "need_to_know": sorted(rng.sample(TOPICS, rng.choice((0, 1, 1, 2)))),
        }
        area = rng.choice(AREAS)
        if area is not None:
            label["area"] = area
        labels.append(label)
    return labels


def create_items(
    node: Node, user: User, n: int, content_bytes: int, rng: random.Random
) -> list[str]:
    """``n`` items stored in process, 500 per transaction; their ids, in order."""
    ids: list[str] = []
    labels = make_labels(n, rng)
    filler = "東シナ海の哨戒報告。" * (content_bytes // 10 + 1)
    for start in range(0, n, 500):
        drafts = [
            node.prepare_item(
                user,
                label,
                f"Patrol report {start + k}",
                f"{start + k} {filler}".encode()[:content_bytes],
            )
            for k, label in enumerate(labels[start : start + 500])
        ]
        ids += [view["id"] for view in node.store_items(user, drafts)]
    return ids


def users(node: Node, specs: Sequence[tuple[str, str, Role]]) -> dict[str, tuple[User, str]]:
    made = {}
    for user_id, clearance, role in specs:
        made[user_id] = node.add_user(
            user_id, node.nation, clearance=clearance, need_to_know=list(TOPICS), role=role
        )
    return made


def witnessing(data: Path, on: bool) -> None:
    """Set a node's ``witnessing`` (its anchor, heads sent and checked) in its node.json."""
    config = data / "node.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"witnessing": on}))
