"""The audit log's head and RFC 9162 proofs over REST, in process, on both databases.

A proof served is checked with ``audit.merkle``'s verifiers against the signed heads the
node served earlier: every entry's inclusion, every pair of heads' consistency; numbers
that do not fit the log are refused naming the parameter; analysts are refused; a proof
carries hashes only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gsoia.api import create_app
from gsoia.audit.log import head_message
from gsoia.audit.merkle import verify_consistency, verify_inclusion
from gsoia.crypto.signing import verify
from gsoia.node.service import Node
from gsoia.node.users import Role
from tests import loopback
from tests.node.conftest import Database


@pytest.fixture
def served(tmp_path: Path, database: Database) -> Iterator[tuple[Node, dict[str, httpx.Client]]]:
    node = Node.init(tmp_path / "jpn", "JPN", database=database.url)
    _, officer = node.add_user("officer", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    _, analyst = node.add_user("analyst", "JPN", clearance="KIMITSU")
    transport = loopback.InProcess(create_app(node))
    clients = {
        name: loopback.client(
            transport=transport,
            base_url="http://node.test",
            headers={"Authorization": f"Bearer {token}"},
        )
        for name, token in (("officer", officer), ("analyst", analyst))
    }
    try:
        yield node, clients
    finally:
        for client in clients.values():
            client.close()
        node.close()


def signed_head(officer: httpx.Client, key: bytes) -> dict[str, Any]:
    answer = officer.get("/api/v1/audit/head").json()
    assert answer["signing_key"] == key.hex()
    head: dict[str, Any] = answer["head"]
    verify(
        key,
        head_message(head["size"], bytes.fromhex(head["root"])),
        bytes.fromhex(head["signature"]),
    )
    return head


def grow(analyst: httpx.Client, n: int) -> None:
    for i in range(n):
        response = analyst.post(
            "/api/v1/items",
            json={
                "title": f"Report {i}",
                "content": "text",
                "label": {"originator": "JPN", "classification": "HI", "releasable_to": []},
            },
        )
        assert response.status_code == 201, response.text


def test_every_entry_and_every_head_is_proven(
    served: tuple[Node, dict[str, httpx.Client]],
) -> None:
    node, clients = served
    officer, analyst = clients["officer"], clients["analyst"]
    key = node.public.signing
    heads = [signed_head(officer, key)]
    for n in (1, 3, 5):
        grow(analyst, n)
        heads.append(signed_head(officer, key))
    sizes = [h["size"] for h in heads]
    assert sizes == sorted(set(sizes))  # each head larger than the one before
    entries = officer.get("/api/v1/audit", params={"limit": 1000}).json()["entries"]
    last = heads[-1]
    for seq in range(last["size"]):
        proof = officer.get(
            "/api/v1/audit/proof/inclusion", params={"seq": seq, "size": last["size"]}
        )
        assert proof.status_code == 200, proof.text
        body = proof.json()
        assert body["head"]["root"] == last["root"]
        assert body["head"]["signature"] == last["signature"]
        assert "withheld" not in entries[seq]
        verify_inclusion(
            seq,
            last["size"],
            bytes.fromhex(body["leaf"]),
            [bytes.fromhex(h) for h in body["inclusion_path"]],
            bytes.fromhex(last["root"]),
        )
    for i, first in enumerate(heads):
        for second in heads[i:]:
            proof = officer.get(
                "/api/v1/audit/proof/consistency",
                params={"first": first["size"], "second": second["size"]},
            )
            assert proof.status_code == 200, proof.text
            body = proof.json()
            assert (body["first"]["root"], body["second"]["root"]) == (
                first["root"],
                second["root"],
            )
            verify_consistency(
                first["size"],
                second["size"],
                bytes.fromhex(first["root"]),
                bytes.fromhex(second["root"]),
                [bytes.fromhex(h) for h in body["consistency_path"]],
            )


def test_a_proof_of_another_leaf_does_not_verify(
    served: tuple[Node, dict[str, httpx.Client]],
) -> None:
    node, clients = served
    grow(clients["analyst"], 2)
    head = signed_head(clients["officer"], node.public.signing)
    body = (
        clients["officer"]
        .get("/api/v1/audit/proof/inclusion", params={"seq": 1, "size": head["size"]})
        .json()
    )
    other = (
        clients["officer"]
        .get("/api/v1/audit/proof/inclusion", params={"seq": 2, "size": head["size"]})
        .json()
    )
    with pytest.raises(Exception, match="root"):
        verify_inclusion(
            1,
            head["size"],
            bytes.fromhex(other["leaf"]),
            [bytes.fromhex(h) for h in body["inclusion_path"]],
            bytes.fromhex(head["root"]),
        )


@pytest.mark.parametrize(
    ("path", "params", "place"),
    [
        ("/api/v1/audit/proof/inclusion", {"seq": 5, "size": 5}, "seq"),
        ("/api/v1/audit/proof/inclusion", {"seq": 0, "size": 10_000}, "size"),
        ("/api/v1/audit/proof/consistency", {"first": 4, "second": 3}, "first"),
        ("/api/v1/audit/proof/consistency", {"first": 1, "second": 10_000}, "second"),
    ],
)
def test_numbers_that_do_not_fit_the_log_are_refused(
    served: tuple[Node, dict[str, httpx.Client]], path: str, params: dict[str, int], place: str
) -> None:
    _, clients = served
    grow(clients["analyst"], 1)
    response = clients["officer"].get(path, params=params)
    assert response.status_code == 422, response.text
    assert [p["place"] for p in response.json()["errors"]] == [place]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit/head",
        "/api/v1/audit/proof/inclusion?seq=0&size=1",
        "/api/v1/audit/proof/consistency?first=1&second=1",
    ],
)
def test_analysts_get_no_proofs(served: tuple[Node, dict[str, httpx.Client]], path: str) -> None:
    _, clients = served
    grow(clients["analyst"], 1)
    response = clients["analyst"].get(path)
    assert response.status_code == 403, response.text
    assert response.json()["reason"] == "ROLE"
    anonymous = loopback.client(
        transport=clients["analyst"]._transport, base_url="http://node.test"
    )
    with anonymous:
        assert anonymous.get(path).status_code == 401
