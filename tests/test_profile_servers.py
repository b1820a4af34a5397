"""``benchmarks/profile_servers.py`` puts each py-spy sample in the bucket of its innermost
frame that a rule names, counts waits apart, and its recording of a live process writes
stacks that it reads back."""

import importlib.util
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

UVICORN = (
    'process 41:"gsoia serve --port 8000"',
    "Server.run (uvicorn/server.py:86)",
    "asyncio_run (uvicorn/_compat.py:30)",
    "Runner.run (asyncio/runners.py:118)",
)
WORKER = (
    "Thread._bootstrap (threading.py:1002)",
    "Thread.run (threading.py:982)",
    "_WorkItem.run (concurrent/futures/thread.py:59)",
    "HotRoutes._create.<locals>.<lambda> (gsoia/api/hot.py:121)",
    "Node.create_item (gsoia/node/service.py:300)",
)


@pytest.fixture(scope="module")
def spy() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "profile_servers", BENCHMARKS / "profile_servers.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def line(frames: tuple[str, ...], count: int) -> str:
    return ";".join(frames) + f" {count}"


@pytest.mark.parametrize(
    ("inner", "bucket"),
    [
        (("sign (gsoia/crypto/signing.py:40)",), "crypto"),
        (("AESGCM.encrypt (cryptography/hazmat/primitives/ciphers/aead.py:12)",), "crypto"),
        (("Vault.store (gsoia/node/vault.py:80)", "execute (sqlite3/dbapi2.py:1)"), "SQL"),
        (("DefaultDialect.do_execute (sqlalchemy/engine/default.py:951)",), "SQL"),
        # the audit log's own SQL is SQL; its hashing and signing of entries are audit
        (("SqliteAuditStore.write (gsoia/audit/sqlite_store.py:60)",), "SQL"),
        (("AuditLog.append (gsoia/audit/log.py:120)", "wraps (functools.py:35)"), "audit"),
        (("Rulebook.decide (gsoia/decision/rulebook.py:70)",), "decision"),
        (("nonzero (numpy/_core/fromnumeric.py:2000)",), "decision"),
        (("BaseModel.model_validate (pydantic/main.py:700)",), "validation"),
        (("JSONDecoder.raw_decode (json/decoder.py:353)",), "validation"),
        (("loads (/usr/lib/python3.11/json/__init__.py:346)",), "validation"),
        (("JSONEncoder.iterencode (json/encoder.py:258)",), "JSON encoding"),
        (("Holdings.store (gsoia/node/holdings.py:200)",), "other gsoia"),
        (("copy (copy.py:70)",), "other gsoia"),  # handed on to the gsoia frame above it
    ],
)
def test_the_innermost_frame_a_rule_names_decides(
    spy: ModuleType, inner: tuple[str, ...], bucket: str
) -> None:
    assert spy.classify([*UVICORN[1:], *WORKER, *inner]) == bucket


def test_the_event_loop_in_c_is_the_http_stack_and_nothing_named_is_other(
    spy: ModuleType,
) -> None:
    assert spy.classify(list(UVICORN[1:])) == "HTTP stack"
    response = "JSONResponse.render (starlette/responses.py:190)"
    assert spy.classify([*UVICORN[1:], response]) == "JSON encoding"
    ours = "JSONBody.render (gsoia/api/app.py:117)"
    assert spy.classify([*UVICORN[1:], ours]) == "JSON encoding"
    hop = "on_worker_thread (gsoia/api/hot.py:150)"
    assert spy.classify([*UVICORN[1:], hop]) == "HTTP stack"
    log = "RequestLog.__call__ (gsoia/api/observe.py:70)"
    assert spy.classify([*UVICORN[1:], log]) == "HTTP stack"
    send = "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:500)"
    assert spy.classify([*UVICORN[1:], send]) == "HTTP stack"
    assert spy.classify(["<module> (spin.py:3)", "loop (spin.py:9)"]) == "other"
    assert spy.classify([]) == "other"


def test_a_wait_as_innermost_frame_is_waiting_but_not_deeper_in(spy: ModuleType) -> None:
    waits = (
        "Condition.wait (threading.py:331)",
        "_worker (concurrent/futures/thread.py:81)",
        "GroupCommit.run (gsoia/audit/group_commit.py:76)",
    )
    for wait in waits:
        assert spy.classify([*WORKER, wait]) == spy.WAITING
    committed = "GroupCommit._committed (gsoia/audit/group_commit.py:120)"
    assert spy.classify([*WORKER, waits[2], committed]) == "audit"


def test_tally_strips_pseudo_frames_and_table_shares_exclude_waits(spy: ModuleType) -> None:
    lines = [
        line((*UVICORN, *WORKER, "sign (gsoia/crypto/signing.py:40)"), 30),
        line(
            (*UVICORN, "thread 0x7f (gsoia-hot)", *WORKER, "Vault.page (gsoia/node/vault.py:3)"), 10
        ),
        line(UVICORN, 60),
        line((*WORKER, "Condition.wait (threading.py:331)"), 500),
        "",
        "garbage without a count",
    ]
    assert spy.parse(lines[1]) == (
        [*UVICORN[1:], *WORKER, "Vault.page (gsoia/node/vault.py:3)"],
        10,
    )
    assert spy.parse("") is None
    counts, deciders = spy.tally(lines)
    assert counts == {"crypto": 30, "other gsoia": 10, "HTTP stack": 60, spy.WAITING: 500}
    assert deciders["crypto"] == {"gsoia/crypto/signing.py:sign": 30}
    assert deciders["HTTP stack"] == {"uvicorn/_compat.py:asyncio_run": 60}
    shown = spy.table(counts, "create").splitlines()
    assert shown[0] == "create: 100 samples at work, 500 waiting"
    assert "| HTTP stack | 60 | 60% |" in shown
    assert "| crypto | 30 | 30% |" in shown
    assert "| SQL | 0 | 0% |" in shown
    assert len(shown) == 4 + len(spy.BUCKETS)


SPIN = """
import time
def spin():
    end = time.monotonic() + 8
    while time.monotonic() < end:
        sum(range(1000))
spin()
"""


def test_recording_a_live_process_writes_stacks_it_reads_back(
    spy: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # py-spy names a file from the sys.path entry it lies under: gsoia/crypto/spin.py here
    lib = tmp_path / "lib"
    source = lib / "gsoia" / "crypto" / "spin.py"
    source.parent.mkdir(parents=True)
    source.write_text(textwrap.dedent(SPIN))
    run = f"import runpy, sys; sys.path.insert(0, {str(lib)!r}); runpy.run_path({str(source)!r})"
    process = subprocess.Popen([sys.executable, "-c", run])
    try:
        with spy.recording(tmp_path / "stacks", "spin", process.pid):
            time.sleep(1.5)
    finally:
        process.kill()
        process.wait()
    stacks = (tmp_path / "stacks" / "spin.txt").read_text().splitlines()
    counts, _ = spy.tally(stacks)
    assert counts["crypto"] > 0
    assert set(counts) <= {"crypto", "other", spy.WAITING}
    assert "[py-spy] spin" in capsys.readouterr().out
