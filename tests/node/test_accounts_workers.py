"""The one-second bound with ``gsoia serve --workers 2``: a change to an account made by
another process (the CLI, or one acting as it does) holds on every worker once
``SIGNED_IN_FOR`` has passed since it committed, for API tokens and for web sessions alike;
and a web session signed out through one worker is refused by both.

Each request goes on a connection of its own, and the worker that accepted it is read from
``/proc`` (which process holds the server's end of the connection), so the test knows that
both workers answered, and that both trusted each credential before the change.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from gsoia.node.accounts import Changes
from gsoia.node.authority import OPERATOR
from gsoia.node.users import SIGNED_IN_FOR, Role
from tests import loopback
from tests.node.conftest import GSOIA, RunningNode
from tests.node.test_workers import _children, _serving
from tests.web.test_security import http_sign_in, page_csrf

ROUNDS = 300
"""At most this many requests to have both workers answer (they take turns by chance)."""


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and (
            int(remote.split(":")[1], 16) == client_port
        ):
            return inode
    return None


def _holder(pids: list[int], inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if fd.readlink().as_posix() == target:
                    return pid
            except OSError:
                continue
    return None


def _read(sock: socket.socket) -> tuple[int, str]:
    """The status and body of one HTTP/1.1 response (with a Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), body.decode("utf-8")


def ask(node: RunningNode, workers: list[int], path: str, header: str) -> tuple[int, str, int]:
    """GET ``path`` with one header, on a connection of its own: the status, the body,
    and the worker that answered."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n\r\n"
        sock.sendall(request.encode())
        status, body = _read(sock)
        inode = _socket_inode(node.port, sock.getsockname()[1])
        pid = _holder(workers, inode) if inode else None
    assert pid is not None, "no worker holds the connection"
    return status, body, pid


def on_both(node: RunningNode, workers: list[int], path: str, header: str) -> list[tuple[int, str]]:
    """Ask until both workers have answered (at least 10 times in all): every answer."""
    answers: list[tuple[int, str]] = []
    seen: set[int] = set()
    while len(seen) < len(workers) or len(answers) < 10:
        assert len(answers) < ROUNDS, f"only worker {seen} answered in {ROUNDS} requests"
        status, body, pid = ask(node, workers, path, header)
        answers.append((status, body))
        seen.add(pid)
    return answers


def cli(node: RunningNode, *args: str) -> str:
    command = [GSOIA, "user", *args, "--data", str(node.data)]
    if node.database.url:
        command += ["--database", node.database.url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_change_by_the_cli_holds_on_every_worker_within_the_bound(jpn: RunningNode) -> None:
    for user_id in ("dis", "rot", "low", "rem", "web-dis", "web-rot", "web-low", "web-out"):
        jpn.add_user(user_id, "JPN", "KIMITSU", ["maritime"])
    jpn.add_user("kept", "JPN", "HI")
    jpn.workers = 2
    jpn.start()
    assert jpn.process is not None
    workers = [p for p in _children(jpn.process.pid) if _serving(p)]
    assert len(workers) == 2, workers

    def bearer(user_id: str) -> str:
        return f"Authorization: Bearer {jpn.tokens[user_id]}"

    cookies: dict[str, str] = {}
    for user_id in ("web-dis", "web-rot", "web-low", "web-out", "kept"):
        with http_sign_in(jpn, user_id) as client:
            cookies[user_id] = f"Cookie: gsoia_session={client.cookies['gsoia_session']}"

    def cleared(answer: tuple[int, str]) -> str:
        status, body = answer
        assert status == 200, body
        return str(json.loads(body)["clearance"])

    def web_clearance(answer: tuple[int, str]) -> str:
        status, body = answer
        assert status == 200, body
        found = re.search(r"cleared JPN [^(<]+\((\w+)\)", body)
        assert found, body[:2000]
        return found.group(1)

    # before: every worker trusts every credential (the API's tokens, the web's sessions)
    before: list[tuple[str, str, Callable[[tuple[int, str]], str], str]] = [
        *((u, "/api/v1/me", cleared, bearer(u)) for u in ("dis", "rot", "low", "rem", "kept")),
        *((u, "/web/items", web_clearance, cookies[u]) for u in cookies),
    ]
    for user_id, path, level, header in before:
        answers = on_both(jpn, workers, path, header)
        held = "HI" if user_id == "kept" else "KIMITSU"
        assert {level(a) for a in answers} == {held if path.startswith("/api/") else held.title()}

    copied = cookies["web-out"].removeprefix("Cookie: gsoia_session=")
    with loopback.client(base_url=jpn.url, cookies={"gsoia_session": copied}) as client:
        response = client.post("/web/sign-out", data={"csrf": page_csrf(client)})
        assert response.status_code == 303  # through either worker
    # each kind of change once by the CLI, the rest by this process, as the CLI makes them
    cli(jpn, "disable", "--id", "dis")
    cli(jpn, "rotate-token", "--id", "rot")
    cli(jpn, "set", "--id", "low", "--clearance", "HI")
    cli(jpn, "remove", "--id", "rem")
    node = jpn.open()
    try:
        node.accounts.disable(OPERATOR, "web-dis")
        node.accounts.rotate_token(OPERATOR, "web-rot")
        node.accounts.set(OPERATOR, "web-low", Changes(clearance="HI"))
    finally:
        node.close()
    time.sleep(SIGNED_IN_FOR)  # the documented bound, from the last change's commit

    for user_id in ("dis", "rot", "rem"):
        answers = on_both(jpn, workers, "/api/v1/me", bearer(user_id))
        assert {status for status, _ in answers} == {401}, (user_id, answers[:3])
    assert {cleared(a) for a in on_both(jpn, workers, "/api/v1/me", bearer("low"))} == {"HI"}
    for user_id in ("web-dis", "web-rot", "web-out"):
        answers = on_both(jpn, workers, "/web/items", cookies[user_id])
        assert {status for status, _ in answers} == {303}, (user_id, answers[:3])
    answers = on_both(jpn, workers, "/web/items", cookies["web-low"])
    assert {web_clearance(a) for a in answers} == {"Hi"}
    answers = on_both(jpn, workers, "/web/items", cookies["kept"])  # untouched: still in
    assert {web_clearance(a) for a in answers} == {"Hi"}


def test_an_admin_on_one_worker_disables_a_user_on_both(jpn: RunningNode) -> None:
    """Over REST through either worker: the other worker sees it within the bound."""
    jpn.add_user("adm", "JPN", "KIMITSU", role=Role.ADMIN)
    jpn.add_user("ana", "JPN", "HI")
    jpn.workers = 2
    jpn.start()
    assert jpn.process is not None
    workers = [p for p in _children(jpn.process.pid) if _serving(p)]
    header = f"Authorization: Bearer {jpn.tokens['ana']}"
    assert {s for s, _ in on_both(jpn, workers, "/api/v1/me", header)} == {200}
    with jpn.client("adm") as admin:
        assert admin.post("/api/v1/users/ana/disable").status_code == 200
    time.sleep(SIGNED_IN_FOR)
    assert {s for s, _ in on_both(jpn, workers, "/api/v1/me", header)} == {401}
