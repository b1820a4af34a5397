"""SQLite's writers take their turn on a ``flock`` beside the database: a second writer,
in another process or thread, waits until the first is done and is woken as it ends."""

from __future__ import annotations

import ast
import multiprocessing
import stat
import threading
import time
from pathlib import Path

import gsoia
from gsoia.node.service import Node
from gsoia.store.database import open_engine, sqlite_url, writing
from gsoia.store.writer_turn import WriterTurn, writer_turn


def _hold_for(database: str, held: object, seconds: float) -> None:
    """In another process: hold the turn for ``seconds`` once ``held`` is set."""
    turn = WriterTurn(Path(database))
    with turn.held():
        held.set()  # type: ignore[attr-defined]
        time.sleep(seconds)


def test_a_writer_in_another_process_waits_for_the_turn(tmp_path: Path) -> None:
    database = tmp_path / "gsoia.db"
    context = multiprocessing.get_context("spawn")
    held = context.Event()
    other = context.Process(target=_hold_for, args=(str(database), held, 0.5))
    other.start()
    try:
        assert held.wait(30)
        t0 = time.perf_counter()
        with WriterTurn(database).held():
            waited = time.perf_counter() - t0
    finally:
        other.join(30)
    assert other.exitcode == 0
    assert waited > 0.2  # it waited for the other process's turn to end


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    turn = WriterTurn(tmp_path / "gsoia.db")
    inside = 0
    most = 0
    lock = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(50):
            with turn.held():
                with lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_a_turn_held_is_held_again_by_its_thread(tmp_path: Path) -> None:
    turn = WriterTurn(tmp_path / "gsoia.db")
    with turn.held(), turn.held():
        pass
    other = WriterTurn(tmp_path / "gsoia.db")  # another open file: free again
    done = threading.Event()

    def take() -> None:
        with other.held():
            done.set()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(10)
    assert done.is_set()


def test_the_turn_is_one_per_file_and_private(tmp_path: Path) -> None:
    database = tmp_path / "gsoia.db"
    turn = writer_turn(str(database))
    assert turn is not None
    assert writer_turn(str(tmp_path / "." / "gsoia.db")) is turn
    assert writer_turn(":memory:") is None
    engine = open_engine(sqlite_url(database))
    try:
        with writing(engine) as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    finally:
        engine.dispose()
    assert stat.S_IMODE(turn.path.stat().st_mode) == 0o600


def test_a_node_writes_under_its_turn(tmp_path: Path) -> None:
    data = tmp_path / "jpn"
    node = Node.init(data, "JPN")
    try:
        turn = writer_turn(str(data / "gsoia.db"))
        assert turn is not None
        blocked = threading.Event()
        added = threading.Event()

        def add() -> None:
            blocked.set()
            node.add_user("jp", "JPN", clearance="KIMITSU")
            added.set()

        other = WriterTurn(data / "gsoia.db")  # as another process would
        with other.held():
            thread = threading.Thread(target=add)
            thread.start()
            assert blocked.wait(10)
            assert not added.wait(0.3)  # the node's write waits for the turn
        thread.join(30)
        assert added.is_set()
    finally:
        node.close()


def _engine_begins(source: str) -> list[int]:
    """The lines of ``source`` that open a transaction on an engine (``….engine.begin()``
    or ``engine.begin()``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "begin"
        ):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name.endswith("engine"):
                lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_finds_an_engine_begun() -> None:
    source = "with self.node.engine.begin() as c:\n    pass\nengine.begin()\nc.begin()\n"
    assert _engine_begins(source) == [1, 3]


def test_every_write_transaction_is_opened_by_writing() -> None:
    """A transaction begun on the engine itself would take no turn and, on SQLite, no
    write lock until its first write (``store.database.writing`` does both)."""
    source = Path(gsoia.__file__).parent
    found = {
        f"{path.relative_to(source)}:{line}"
        for path in sorted(source.rglob("*.py"))
        for line in _engine_begins(path.read_text(encoding="utf-8"))
    }
    assert found == set()
