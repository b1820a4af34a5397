"""Coverage-guided fuzzing (atheris, libFuzzer) of the catalogue loader, the package opener
and the label parser: ``python atheris_targets.py TARGET [libFuzzer options]``.

Each target feeds the fuzzer's bytes to one parser and lets only that parser's own error
pass; any other exception is a crash, which atheris reports with the input (written under
``-artifact_prefix``) and a non-zero exit. ``test_fuzz.test_atheris`` runs each target for
a fixed number of runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import atheris  # type: ignore[import-untyped]  # no stubs installed

with atheris.instrument_imports(include=["gsoia"]):
    import gsoia
    from gsoia.catalogue.load import parse_catalogue
    from gsoia.crypto.keys import NodeKeys
    from gsoia.crypto.signing import sign
    from gsoia.errors import CatalogueError, RequestError
    from gsoia.federation.packages import (
        Kind,
        PackageRejected,
        b64,
        make_package,
        open_package,
        signed_bytes,
    )

KEYS = NodeKeys.generate()
PEERS = {"CAN": KEYS.public().signing}
NOW = dt.datetime.now(dt.UTC)
RULEBOOK = gsoia.load_catalogue()

SEEDS: dict[str, list[bytes]] = {
    "catalogue": [
        b"policies:\n  JPN:\n    name: Japan\n    levels: [{id: HI, name: x}]\nagreements: []\n",
        b'{"policies": {"JPN": {"name": "Japan", "levels": [{"id": "HI", "name": "x"}]}}}',
    ],
    "package": [
        json.dumps(
            make_package(
                KEYS.signing, kind, "CAN", "JPN", {"item": "i", "classification": "S"}, NOW
            )
        ).encode()
        for kind in Kind
    ],
    "request": [
        json.dumps(
            {
                "subject": {"nation": "CAN", "clearance": "S", "need_to_know": ["maritime"]},
                "label": {
                    "originator": "JPN",
                    "classification": "GOKUHI",
                    "releasable_to": ["CAN"],
                },
                "at": "2026-01-01",
            }
        ).encode()
    ],
}


def catalogue(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for is_json in (False, True):
        with contextlib.suppress(CatalogueError):
            parse_catalogue(text, is_json=is_json)


def package(data: bytes) -> None:
    """As sent, and as its sender would have signed it: so the checks behind the
    signature (timestamp, signed subset, shape) see the fuzzer's input too."""
    for raw in (data, resigned(data)):
        if raw is None:
            continue
        with contextlib.suppress(PackageRejected):
            open_package(raw, me="JPN", peer_keys=PEERS, now=NOW)


def resigned(data: bytes) -> bytes | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    unsigned = {k: v for k, v in value.items() if k != "signature"}
    try:
        signature = b64(sign(KEYS.signing, signed_bytes(unsigned)))
    except (TypeError, ValueError, RecursionError):
        return None  # outside what can be signed
    return json.dumps(unsigned | {"signature": signature}).encode("utf-8", "surrogatepass")


def request(data: bytes) -> None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return  # not JSON: the API refuses it before the label parser sees it
    with contextlib.suppress(RequestError):
        RULEBOOK.decide(value)
    labels = value if isinstance(value, list) else [value]
    with contextlib.suppress(RequestError):
        RULEBOOK.label_table(labels)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "catalogue": catalogue,
    "package": package,
    "request": request,
}


def main() -> None:
    target = sys.argv.pop(1)
    one_input = TARGETS[target]
    corpus = Path(f"corpus-{target}")  # in the working directory; libFuzzer adds to it
    corpus.mkdir(exist_ok=True)
    for n, seed in enumerate(SEEDS[target]):
        one_input(seed)  # the seeds themselves must pass
        (corpus / f"seed-{n}").write_bytes(seed)
    atheris.Setup([*sys.argv, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
