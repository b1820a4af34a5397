"""Where a release's time goes (``bench_federation.py --profile``): JPN and CAN in one
process, no HTTP, the releases under cProfile by step and by library, and the primitives
(signatures, seals, AES-GCM, an audited SQLite transaction) timed without the profiler."""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from federation_nodes import create_items, users
from gsoia.node.service import Node
from gsoia.node.users import Role
from in_process import Wiring


def in_process_pair(work: Path) -> tuple[Node, Node]:
    """JPN and CAN nodes in this process, wired to each other (``in_process.Wiring``)."""
    jpn = Node.init(work / "jpn", "JPN")
    can = Node.init(work / "can", "CAN")
    Wiring(jpn, can)
    return jpn, can


# (label, how cProfile names it): the steps of a release, cumulative time
RELEASES = ("release", "release_many")
RECEIVES = ("receive", "receive_batch")
FACADE = "node/exchange/__init__.py"
"""Where ``Exchange`` hands each call on: its release and receive steps are timed there
(once: the modules it hands them to have methods of the same names)."""
STEPS: tuple[tuple[str, Callable[[tuple[str, int, str]], bool]], ...] = (
    ("Exchange.release[_many] (JPN, all)", lambda f: f[2] in RELEASES and f[0].endswith(FACADE)),
    ("  _releasable_row or _plan (read, verify)", lambda f: f[2] in ("_releasable_row", "_plan")),
    ("  partner_decision", lambda f: f[2] == "partner_decision"),
    ("  _release_body (decrypt, seal)", lambda f: f[2] == "_release_body"),
    ("  one transaction (JPN: outbox, audit)", lambda f: f[2] == "write" and "exch" in f[0]),
    ("  Courier (sign, send, settle)", lambda f: f[2] in ("_deliver", "_deliver_batch")),
    ("    Exchange.receive (CAN, all)", lambda f: f[2] in RECEIVES and f[0].endswith(FACADE)),
    ("      open_package", lambda f: f[2] == "open_package"),
    ("      _check_release", lambda f: f[2] == "_check_release"),
    (
        "      Holdings.store_received_many",
        lambda f: f[2] == "store_received_many" and f[0].endswith("holdings.py"),
    ),
    ("    Courier._settled (JPN: delivered)", lambda f: f[2] == "_settled"),
    ("Ed25519 sign", lambda f: f[2] == "sign" and f[0].endswith("signing.py")),
    ("Ed25519 verify", lambda f: f[2] == "verify" and f[0].endswith("signing.py")),
    ("X25519 seal", lambda f: f[2] == "seal" and f[0].endswith("seal.py")),
    ("X25519 unseal", lambda f: f[2] == "unseal" and f[0].endswith("seal.py")),
    ("AES-GCM encrypt", lambda f: f[2] == "encrypt" and f[0].endswith("aead.py")),
    ("AES-GCM decrypt", lambda f: f[2] == "decrypt" and f[0].endswith("aead.py")),
    ("AES key wrap/unwrap", lambda f: f[2] in ("wrap_key", "unwrap_key")),
    ("SHA-384 digest", lambda f: f[2] == "digest" and f[0].endswith("signing.py")),
    ("canonical_json", lambda f: f[2] == "canonical_json"),
    ("AuditTransaction.append", lambda f: f[2] == "append" and f[0].endswith("log.py")),
    ("SQLite COMMIT", lambda f: f[2] == "do_commit"),
    ("SQLite BEGIN IMMEDIATE", lambda f: f[2] == "_sqlite_begin"),
    ("SQLAlchemy Connection.execute", lambda f: f[2] == "execute" and "engine/base.py" in f[0]),
    ("  of which: statement cache keys", lambda f: f[2] == "_generate_cache_key"),
    ("pydantic validation", lambda f: f[2] in ("model_validate", "validate_python")),
    ("json.dumps/loads", lambda f: f[0].endswith("json/__init__.py")),
)


def profile(args: argparse.Namespace, work: Path, rng: random.Random) -> None:
    n = args.profile_items
    print()
    print(f"[profile] in-process JPN -> CAN (no HTTP): {n:,} releases timed, {n:,} profiled")
    jpn, can = in_process_pair(work)
    user, _ = users(jpn, [("jp-releaser", "KIMITSU", Role.ANALYST)])["jp-releaser"]
    ids = create_items(jpn, user, 2 * n + 20, args.content_bytes, rng)

    def release(share: Sequence[str]) -> list[str]:
        """Release ``share`` as the clients do (``--batch`` per call); the states."""
        states = []
        for start in range(0, len(share), args.batch):
            chunk = share[start : start + args.batch]
            if args.batch == 1:
                states.append(jpn.exchange.release(user, chunk[0], "CAN")["state"])
                continue
            for result in jpn.exchange.release_many(user, "CAN", chunk):
                states.append(result["state"] if isinstance(result, dict) else repr(result))
        return states

    release(ids[:20])  # warm-up
    timed, profiled = ids[20 : 20 + n], ids[20 + n :]
    how = "one release each" if args.batch == 1 else f"release_many, {args.batch} per call"
    cpu, t = time.process_time(), time.perf_counter()
    states = release(timed)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert set(states) == {"delivered"}, Counter(states)
    print(
        f"    no profiler ({how}): {n / wall:,.0f} releases/s in one thread"
        f" ({wall / n * 1e6:,.0f} µs wall, {cpu / n * 1e6:,.0f} µs CPU per release,"
        " both nodes' work)"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    release(profiled)
    profiler.disable()
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    whole: float = next(
        (v[3] for k, v in table.items() if k[2] in RELEASES and k[0].endswith(FACADE)),
        0.0,
    ) or sum(v[2] for v in table.values())
    print("    under cProfile (inflates Python code more than C): per release, cumulative")
    print(f"    {'step':42} {'calls':>6} {'µs':>8} {'share':>6}")
    for label, match in STEPS:
        rows = [v for k, v in table.items() if match(k)]
        if not rows:
            continue
        calls = sum(r[1] for r in rows)
        cumulative = sum(r[3] for r in rows)
        share = f"{cumulative / whole:6.0%}"
        print(f"    {label:42} {calls / n:6.1f} {cumulative / n * 1e6:8.0f} {share}")
    print("    own time (cProfile tottime) by where the code lives, per release:")
    for place, seconds in own_time_by_library(table):
        print(f"      {place:34} {seconds / n * 1e6:8.0f} µs {seconds / whole:6.0%}")
    jpn.close()
    can.close()
    primitives(args.content_bytes)
    print()
    print("    top 15 functions by own time (cProfile tottime):")
    stream = Path(work / "profile.txt")
    with open(stream, "w") as out:
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
    printing = False
    shown = 0
    for line in stream.read_text().splitlines():
        if line.lstrip().startswith("ncalls"):
            printing = True
            print(f"    {line}")
            continue
        if printing and line.strip() and shown < 15:
            print(f"    {line}")
            shown += 1


LIBRARIES = (
    ("site-packages/sqlalchemy", "SQLAlchemy (Python)"),
    ("sqlite3.Connection", "sqlite3 (C: commit)"),
    ("sqlite3.Cursor", "sqlite3 (C: statements)"),
    ("_sodium", "libsodium (C: Ed25519, X25519)"),
    ("site-packages/nacl", "PyNaCl (Python: libsodium's bindings)"),
    ("cryptography", "cryptography (C: AES, HKDF)"),
    ("_hashlib", "hashlib (C: SHA-384)"),
    ("src/gsoia/crypto/canonical", "gsoia canonical JSON"),
    ("src/gsoia/audit", "gsoia audit log (Merkle)"),
    ("src/gsoia/decision", "gsoia decisions"),
    ("src/gsoia", "gsoia (other)"),
    ("pydantic", "pydantic"),
    ("site-packages/httpx", "httpx (in-process transport)"),
    ("site-packages/httpcore", "httpx (in-process transport)"),
    ("json/", "json"),
)


def own_time_by_library(
    table: dict[tuple[str, int, str], tuple[Any, ...]],
) -> list[tuple[str, float]]:
    """Self time summed by library, largest first."""
    totals: dict[str, float] = {}
    for (filename, _, function), row in table.items():
        where = f"{filename}:{function}"
        place = next((name for key, name in LIBRARIES if key in where), "other (Python, builtins)")
        totals[place] = totals.get(place, 0.0) + float(row[2])
    return sorted(totals.items(), key=lambda kv: -kv[1])


def primitives(content_bytes: int) -> None:
    """The primitives' own cost, without the profiler, to read the profile against."""
    from gsoia.audit.log import AuditLog
    from gsoia.crypto import aead
    from gsoia.crypto.keys import NodeKeys
    from gsoia.crypto.seal import seal, unseal
    from gsoia.crypto.signing import digest, sign, verify
    from gsoia.store.database import migrate, open_engine

    keys = NodeKeys.generate()
    public = keys.public()
    message = os.urandom(600)
    signature = sign(keys.signing, message)
    key = aead.new_key()
    content = os.urandom(content_bytes)
    blob = aead.encrypt(key, content)
    sealed = seal(public.sealing, key, b"ctx")

    def timed(fn: Callable[[], object], reps: int = 2_000) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t) / reps * 1e6

    openssl = keys.signing.public_key()  # the peer: OpenSSL's Ed25519 (``cryptography``)
    print()
    print("    primitives, without the profiler (µs per call; OpenSSL's in brackets):")
    print(
        f"      Ed25519 sign {timed(lambda: sign(keys.signing, message)):.0f}"
        f" ({timed(lambda: keys.signing.sign(message)):.0f}),"
        f" verify {timed(lambda: verify(public.signing, message, signature)):.0f}"
        f" ({timed(lambda: openssl.verify(signature, message)):.0f});"
        f" X25519 seal {timed(lambda: seal(public.sealing, key, b'ctx')):.0f},"
        f" unseal {timed(lambda: unseal(keys.sealing, sealed, b'ctx')):.0f};"
        f" AES-GCM {content_bytes} B encrypt {timed(lambda: aead.encrypt(key, content)):.0f},"
        f" decrypt {timed(lambda: aead.decrypt(key, blob)):.0f};"
        f" SHA-384 {timed(lambda: digest(blob)):.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/t.db")
        migrate(engine)
        audit = AuditLog(engine, keys.signing, lambda: dt.datetime.now(dt.UTC))

        def append() -> None:
            with audit.transaction() as tx:
                tx.append("bench", "bench", {"item": "x" * 36, "to": "CAN"})

        def empty() -> None:
            with engine.begin() as connection:
                connection.exec_driver_sql("SELECT 1")

        print(
            f"      SQLite (WAL, synchronous=NORMAL): empty BEGIN IMMEDIATE..COMMIT"
            f" {timed(empty, 1_000):.0f}; one audited transaction"
            f" (lock, max(seq), Merkle root, sign, insert, commit) {timed(append, 1_000):.0f}"
        )
        engine.dispose()
