"""Where a served node's time goes: py-spy on its processes during a benchmark's timed part,
each sample put in one bucket (HTTP stack, validation, decision, crypto, SQL, audit, JSON
encoding, other gsoia, other), and the share of each printed.

The benchmarks take ``--py-spy DIR``: ``recording`` runs ``py-spy record --nonblocking
--subprocesses --gil --format raw`` on the server's process (its workers with it) around
the timed part and prints the table; the collapsed stacks stay in DIR. Saved stacks can be
read again: ``python benchmarks/profile_servers.py DIR/*.txt`` (``--together TITLE``: one
table of them all).

Each sample is the stack of the thread holding its process's GIL (``--gil``): what each
worker's one interpreter spends its time on. Without ``--gil`` py-spy also samples threads
that are runnable but not running — on a shared machine, threads woken from a queue or a
lock waiting for a CPU — and those swamp the picture. Work done in C with the GIL released
(sqlite3 running a statement, the event loop waiting in epoll) is not sampled; the
benchmarks' server CPU per request counts it.

A sample is put in the bucket of its innermost frame that some rule of ``RULES`` matches
(the first rule that matches that frame); frames no rule names (the standard library's
``threading``, ``asyncio``, ``functools``, …) hand the sample on to their callers. py-spy
sees Python frames only: work done in C or Rust (sqlite3, hashlib, AES-GCM and Ed25519 in
``cryptography``, msgspec, pydantic-core) is charged to the Python frame that calls it,
which is why gsoia's own SQL modules count as SQL and its crypto modules as crypto. The
event loop (uvloop, with httptools parsing) runs in C under ``asyncio.Runner.run``: its
samples count as HTTP stack through uvicorn's frames above it. A sample whose innermost
frame is a wait (``WAITS``) is counted apart as waiting, in no share.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

RATE = 400
"""Samples a second per process."""

WAITING = "waiting"
"""A sample whose innermost frame is a wait (a thread pool's queue, a condition, a lock, a
selector, the audit log's group commit lock: ``GroupCommit.run`` does its work in the
frames it calls): a thread woken and not yet on a CPU (the machine shared), not work."""
WAITS = re.compile(
    r"\((threading|queue|selectors)\.py:|^_worker \(concurrent/futures/thread\.py:81\)"
    r"|^GroupCommit\.run \(gsoia/audit/group_commit\.py:"
)


def _under(*packages: str) -> str:
    """A frame whose file lies in one of ``packages`` (py-spy writes site-packages' files
    from the package's folder on, others in full)."""
    return r"[(/](?:" + "|".join(re.escape(p) for p in packages) + r")/"


# (bucket, pattern searched in one frame as py-spy writes it: "function (path:line)")
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (bucket, re.compile(pattern))
    for bucket, pattern in (
        ("JSON encoding", r"[(/]json/encoder\.py|gsoia/api/listing_json\.py"),
        (
            "JSON encoding",
            r"fastapi/encoders\.py|^\S*render \(.*(starlette/responses|gsoia/api/app)\.py",
        ),
        ("validation", _under("pydantic", "pydantic_core", "msgspec") + r"|[(/]json/decoder\.py"),
        ("validation", r"^loads \(.*[(/]json/__init__\.py|^listing_query \(.*gsoia/api/hot\.py"),
        ("validation", r"gsoia/decision/request\.py|gsoia/node/exchange/bodies\.py"),
        ("validation", r"gsoia/node/taxii_envelope\.py|gsoia/labels_xml/label_check\.py"),
        ("decision", r"gsoia/decision/|gsoia/catalogue/|" + _under("numpy")),
        ("crypto", _under("cryptography", "nacl") + r"|gsoia/crypto/|[(/]hashlib\.py|[(/]hmac\.py"),
        ("SQL", _under("sqlalchemy", "sqlite3", "psycopg", "psycopg_pool", "alembic")),
        ("SQL", r"gsoia/store/|gsoia/audit/(sqlite|postgres)_store\.py"),
        ("audit", r"gsoia/audit/"),
        ("HTTP stack", _under("uvicorn", "h11", "httptools", "starlette", "fastapi", "anyio")),
        ("HTTP stack", _under("granian", "uvloop", "httpx", "httpcore")),
        # gsoia's own ASGI plumbing: the request log, the body guard, the hop to a thread
        ("HTTP stack", r"gsoia/api/(observe|limits)\.py|^on_worker_thread \(gsoia/api/hot\.py"),
        ("other gsoia", r"gsoia/"),
    )
)
BUCKETS = (
    "HTTP stack",
    "validation",
    "decision",
    "crypto",
    "SQL",
    "audit",
    "JSON encoding",
    "other gsoia",
    "other",
)


def classify(frames: Sequence[str]) -> str:
    """The bucket of a sample's stack, ``frames`` outermost first (as py-spy writes them)."""
    if frames and WAITS.search(frames[-1]):
        return WAITING
    for frame in reversed(frames):
        for bucket, pattern in RULES:
            if pattern.search(frame):
                return bucket
    return "other"


def parse(line: str) -> tuple[list[str], int] | None:
    """A collapsed-stack line ``frame;frame;... count`` as (frames, count), py-spy's
    ``process N:"…"`` and ``thread …`` pseudo-frames left out; None for a blank line."""
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
    return frames, int(count)


def tally(lines: Iterable[str]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Samples per bucket, and per bucket the samples of each frame that decided it."""
    counts: Counter[str] = Counter()
    deciders: dict[str, Counter[str]] = {b: Counter() for b in (*BUCKETS, WAITING)}
    for line in lines:
        parsed = parse(line)
        if parsed is None:
            continue
        frames, n = parsed
        bucket = classify(frames)
        counts[bucket] += n
        deciders[bucket][_decider(frames, bucket)] += n
    return counts, deciders


def _decider(frames: Sequence[str], bucket: str) -> str:
    for frame in reversed(frames):
        if any(b == bucket and p.search(frame) for b, p in RULES):
            return _short(frame)
    return _short(frames[-1]) if frames else "?"


def _short(frame: str) -> str:
    """``function (path:line)`` as ``module.py:function``."""
    found = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if found is None:
        return frame
    path = found.group(2)
    tail = path.split("/site-packages/")[-1].split("/src/")[-1]
    return f"{tail}:{found.group(1)}"


def table(counts: Counter[str], title: str) -> str:
    """A markdown table of each bucket's samples and share of the samples at work (every
    bucket listed; the waiting samples counted in the title, in no share)."""
    total = sum(n for bucket, n in counts.items() if bucket != WAITING)
    rows = [
        f"{title}: {total:,} samples at work, {counts[WAITING]:,} waiting",
        "",
        "| bucket | samples | share |",
        "|---|---|---|",
    ]
    for bucket in BUCKETS:
        share = counts[bucket] / total if total else 0.0
        rows.append(f"| {bucket} | {counts[bucket]:,} | {share:.0%} |")
    return "\n".join(rows)


def top(deciders: dict[str, Counter[str]], per_bucket: int = 3) -> str:
    """The frames that decided the most samples in each bucket."""
    lines = []
    for bucket in BUCKETS:
        common = deciders[bucket].most_common(per_bucket)
        if common:
            lines.append(f"  {bucket}: " + ", ".join(f"{f} {n}" for f, n in common))
    return "\n".join(lines)


def report(paths: Sequence[Path], title: str) -> None:
    """The table of the samples in ``paths`` together, and the frames that decided most."""
    counts, deciders = tally(line for path in paths for line in path.read_text().splitlines())
    print(table(counts, title))
    print(top(deciders))


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy not found: pip install -c constraints.txt -e '.[bench]'")
    return found


@contextmanager
def recording(directory: Path | None, name: str, pid: int | None) -> Iterator[None]:
    """py-spy on ``pid`` and its subprocesses while the block runs, its stacks written to
    ``directory/name.txt`` and its table printed; nothing when ``directory`` is None."""
    if directory is None or pid is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.txt"
    args = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil"]
    args += ["--format", "raw", "--rate", str(RATE), "--output", str(out)]
    with open(directory / f"{name}.log", "wb") as log:
        spy = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    time.sleep(1.0)  # attached (the server idle meanwhile: no samples taken)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
    if out.exists():
        report([out], f"[py-spy] {name} (load average {os.getloadavg()[0]:.1f})")
    else:
        print(f"[py-spy] {name}: no stacks written (see {directory / f'{name}.log'})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stacks", nargs="+", type=Path, help="py-spy --format raw files")
    parser.add_argument("--together", metavar="TITLE", help="one table of all the files")
    args = parser.parse_args(argv)
    if args.together:
        report(args.stacks, args.together)
        return 0
    for path in args.stacks:
        report([path], path.stem)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
