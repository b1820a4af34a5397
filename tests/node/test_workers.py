"""``gsoia serve --workers N``: several server processes share one node's port and database.

Every worker answers from the same store: an item created through one is listed and read
through the other, the audit log they append to together verifies, and one worker at a
time holds the courier lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gsoia.api.served import SERVE_PARENT, courier_lock
from gsoia.node.users import Role
from tests.node.conftest import GSOIA, RunningNode, free_port
from tests.node.test_api_items import create, verified_audit_size

LABEL = {"originator": "JPN", "classification": "HI"}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def _serving(pid: int) -> bool:
    """A worker: started by multiprocessing (spawn) with the node to serve in its environment."""
    return "GSOIA_SERVE_DATA" in _environ(pid) and "spawn_main" in _cmdline(pid)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_two_workers_serve_one_node(jpn: RunningNode) -> None:
    jpn.add_user("creator", "JPN", "KIMITSU")
    jpn.add_user("reader", "JPN", "KIMITSU")
    jpn.add_user("monitor", "JPN", role=Role.MONITOR)
    jpn.workers = 2
    jpn.start()
    assert jpn.process is not None
    workers = [p for p in _children(jpn.process.pid) if _serving(p)]
    assert len(workers) == 2, workers
    before = {p: _cpu_ticks(p) for p in workers}

    def created(n: int) -> str:
        with jpn.client("creator") as client:  # a connection of its own: either worker
            return create(client, f"report {n}", LABEL)

    with ThreadPoolExecutor(8) as pool:
        made = set(pool.map(created, range(80)))
    assert len(made) == 80

    def listed(_: int) -> set[str]:
        with jpn.client("reader") as client:
            page = client.get("/api/v1/items", params={"limit": 1000}).json()
            return {item["id"] for item in page["items"]}

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(listed, range(40)))
    assert all(s == made for s in seen), [(len(s), len(s - made), len(made - s)) for s in seen]
    busy = [p for p in workers if _cpu_ticks(p) - before[p] > 5]
    assert len(busy) == 2, "one worker answered every request"

    with jpn.client("reader") as client:
        for item in sorted(made)[:20]:
            assert client.get(f"/api/v1/items/{item}").status_code == 200

    with jpn.client("monitor") as client:  # every worker's counts, whichever answers
        text = client.get("/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gsoia_request_seconds_count{") and 'status="2xx"' in line
    )
    assert counted >= 80 + 40 + 20, text[:2000]
    # 80 created + 40 listed + 20 read, appended by two processes, in one verified log
    assert verified_audit_size(jpn) >= 140
    jpn.process.send_signal(signal.SIGTERM)
    jpn.process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{p}") for p in workers), "a worker outlived serve"
    jpn.process = None


def test_workers_end_with_a_killed_serve(jpn: RunningNode) -> None:
    """``gsoia serve`` SIGKILLed: its workers stop too, none goes on serving the port."""
    jpn.add_user("reader", "JPN", "KIMITSU")
    jpn.add_user("monitor", "JPN", role=Role.MONITOR)
    jpn.workers = 2
    jpn.start()
    assert jpn.process is not None
    workers = [p for p in _children(jpn.process.pid) if _serving(p)]
    assert len(workers) == 2, workers
    jpn.process.kill()
    jpn.process.wait(timeout=30)
    jpn.process = None
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "a worker outlived its killed supervisor"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_label_changed_through_one_worker_is_seen_by_the_other(jpn: RunningNode) -> None:
    """A downgrade made through either worker: every worker lists the item to the reader
    the new level admits (the others learn of it through ``relabels``)."""
    jpn.add_user("creator", "JPN", "KIMITSU")
    jpn.add_user("officer", "JPN", "KIMITSU", role=Role.OFFICER)
    jpn.add_user("reader", "JPN", "HI")
    jpn.workers = 2
    jpn.start()
    with jpn.client("creator") as client:
        made = [
            create(client, f"secret {n}", {**LABEL, "classification": "KIMITSU"}) for n in range(12)
        ]

    def listed(_: int) -> set[str]:
        with jpn.client("reader") as client:
            return {i["id"] for i in client.get("/api/v1/items").json()["items"]}

    with ThreadPoolExecutor(8) as pool:
        assert all(not s for s in pool.map(listed, range(16)))  # masks cached by both workers

    def downgraded(item: str) -> None:
        with jpn.client("officer") as client:  # a connection of its own: either worker
            response = client.post(
                f"/api/v1/items/{item}/classification", json={"classification": "HI"}
            )
            assert response.status_code == 200, response.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(downgraded, made))
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(listed, range(40)))
    assert all(s == set(made) for s in seen), [len(s) for s in seen]


def test_one_courier_per_data_directory(tmp_path: Path) -> None:
    first = courier_lock(tmp_path / "courier.lock")
    assert first is not None
    assert courier_lock(tmp_path / "courier.lock") is None  # a second worker: no courier
    assert oct((tmp_path / "courier.lock").stat().st_mode & 0o777) == "0o600"
    first.close()
    again = courier_lock(tmp_path / "courier.lock")  # the holder gone: the next takes it
    assert again is not None
    again.close()


def test_workers_refuse_a_bad_node_before_starting(tmp_path: Path) -> None:
    """A data directory that is not a node: one clear refusal, no worker started."""
    out = subprocess.run(
        [
            GSOIA,
            "serve",
            "--data",
            str(tmp_path / "none"),
            "--port",
            str(free_port()),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert out.stderr.strip(), "no reason given"


def test_a_worker_started_after_serve_died_ends_at_once() -> None:
    """A worker reaching ``end_with_parent`` after ``gsoia serve`` was killed (it imports for
    seconds first) sees that its parent is not ``serve`` and ends: it does not serve alone."""
    code = "from gsoia.api.served import end_with_parent; end_with_parent(); time.sleep(60)"
    env = os.environ | {SERVE_PARENT: "1"}  # serve's pid as the worker was told it
    done = subprocess.run([sys.executable, "-c", f"import time; {code}"], env=env, timeout=120)
    assert done.returncode == -signal.SIGTERM
