"""Receipts: Canada's node answers each release it accepts with a signed receipt; Japan's
node checks it and keeps it with the release, or keeps the release ``unacknowledged`` and
asks again.

Both nodes are real and in this process (Japan's on SQLite or PostgreSQL, Canada's on
SQLite); Japan's courier posts to Canada's inbox through ``httpx.MockTransport``, which
answers as the served inbox does. A test makes Canada's answer hostile (``Wire.tamper``:
the receipt changed in transit or by a lying partner) or lost (``Wire.drop``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from typer.testing import CliRunner

from gsoia.api.federation import batch_answer
from gsoia.audit.acknowledgement import Acknowledgement, check
from gsoia.audit.evidence import EvidenceError, check_bundle
from gsoia.cli.app import app
from gsoia.errors import InputError
from gsoia.federation.courier import State
from gsoia.federation.packages import PackageRejected
from gsoia.federation.peers import INBOX_BATCH, Peer
from gsoia.federation.posting import Outcome
from gsoia.federation.witnessing import CONSISTENCY
from gsoia.node.authority import OPERATOR
from gsoia.node.evidence import prove
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.store.schema import acknowledgements, audit_entries, outbox
from tests.node.conftest import Database, database
from tests.receipts import signed_receipt

__all__ = ["database"]

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}
Tamper = Callable[[dict[str, Any]], dict[str, Any] | None]


class Wire:
    """Japan's courier's way to Canada's inbox, answering as the served inbox answers."""

    def __init__(self, can: Node) -> None:
        self.can = can
        self.tamper: Tamper | None = None
        """Changes each receipt Canada answers with (None: leaves it out)."""
        self.drop = False
        """Canada takes the package, but its answer is lost."""
        self.posted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == CONSISTENCY:  # Japan's witness asks for a proof
            return self._proof(request)
        if request.url.path == INBOX_BATCH:
            results = [
                self._receipt(batch_answer(p, r))
                for p, r in self.can.exchange.receive_batch(request.content)
            ]
            self.posted += [r["package"] for r in results]
            answer = httpx.Response(200, json={"results": results})
        else:
            try:
                document = self.can.exchange.receive(request.content)
                answer = httpx.Response(200, json=self._receipt(document))
            except PackageRejected as e:
                refused = {"reason": e.reason.value, "detail": e.detail, "package": e.package_id}
                if e.receipt is not None:
                    refused["receipt"] = e.receipt
                answer = httpx.Response(409, json=self._receipt(refused))
            self.posted.append(json.loads(request.content)["id"])
        if self.drop:
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return answer

    def _proof(self, request: httpx.Request) -> httpx.Response:
        """Canada's consistency proof, as its served route answers a pinned peer."""
        first, second = (int(request.url.params[name]) for name in ("first", "second"))
        witnesses = self.can.exchange.witnesses
        try:
            proof = witnesses.consistency_for(request.headers, first, second, None)
        except InputError as e:
            return httpx.Response(422, json={"detail": str(e)})
        except PackageRejected as e:
            return httpx.Response(403, json={"detail": e.detail})
        return httpx.Response(200, json=proof)

    def _receipt(self, answer: dict[str, Any]) -> dict[str, Any]:
        holder = answer.get("result", answer)
        if self.tamper is not None and isinstance(holder.get("receipt"), dict):
            changed = self.tamper(holder["receipt"])
            if changed is None:
                del holder["receipt"]
            else:
                holder["receipt"] = changed
        return answer


@dataclass
class Pair:
    jpn: Node
    can: Node
    analyst: User
    wire: Wire

    def items(self, count: int) -> list[str]:
        drafts = [
            self.jpn.prepare_item(self.analyst, LABEL, f"Report {n}", f"{n}".encode())
            for n in range(count)
        ]
        return [view["id"] for view in self.jpn.store_items(self.analyst, drafts)]

    def release(self, item_id: str) -> dict[str, Any]:
        return self.jpn.exchange.release(self.analyst, item_id, "CAN")

    def history(self, item_id: str) -> list[dict[str, Any]]:
        return self.jpn.exchange.release_history(self.analyst, item_id)

    def audited(self, kind: str) -> list[dict[str, Any]]:
        with self.jpn.engine.connect() as connection:
            bodies = connection.execute(
                select(audit_entries.c.body).where(audit_entries.c.kind == kind)
            ).scalars()
            return [json.loads(b)["data"] for b in bodies]

    def outbox_row(self, package_id: str) -> Any:
        with self.jpn.engine.connect() as connection:
            query = select(outbox).where(outbox.c.package_id == package_id)
            return connection.execute(query).one()

    def due_now(self, package_id: str) -> None:
        """The package's backoff over (as if its time had come)."""
        with self.jpn.engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.package_id == package_id)
                .values(next_attempt_at=self.jpn.audit.now())
            )


@pytest.fixture
def pair(tmp_path: Path, database: Database) -> Iterator[Pair]:
    jpn = Node.init(tmp_path / "jpn", "JPN", database=database.url)
    can = Node.init(tmp_path / "can", "CAN")
    jpn.exchange.add_peer(Peer("CAN", "http://can.invalid", can.public))
    can.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.public))
    analyst, _ = jpn.add_user(
        "jpn-analyst", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.ANALYST
    )
    wire = Wire(can)
    jpn.exchange.courier.http = httpx.Client(transport=httpx.MockTransport(wire))
    try:
        yield Pair(jpn, can, analyst, wire)
    finally:
        can.close()
        jpn.close()


def resigned(pair: Pair, change: Callable[[Acknowledgement], Acknowledgement]) -> Tamper:
    """A lying partner: the receipt changed by ``change`` (its head, signed by the partner,
    kept)."""

    def tamper(receipt: dict[str, Any]) -> dict[str, Any]:
        return change(Acknowledgement.from_dict(receipt)).to_dict()

    return tamper


def test_a_release_gets_a_verified_receipt(pair: Pair) -> None:
    [item] = pair.items(1)
    released = pair.release(item)
    assert released["state"] == State.DELIVERED, released

    [shown] = pair.history(item)
    receipt = shown["receipt"]
    assert (shown["to"], shown["package"], shown["state"]) == (
        "CAN",
        released["package"],
        "delivered",
    )
    assert receipt["verified"] is True
    assert receipt["marking"] == "CAN SECRET // JPN 極秘 // JPN-CAN"
    # the entry it proves is Canada's own record of storing the package
    with pair.can.engine.connect() as connection:
        body = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.seq == receipt["seq"])
        ).scalar_one()
    entry = json.loads(body)
    assert entry["kind"] == "package.received"
    assert entry["data"]["package"] == released["package"]
    assert receipt["tree_size"] > receipt["seq"]
    # kept as signed: it checks again, with Canada's key, for anyone
    with pair.jpn.engine.connect() as connection:
        kept = connection.execute(select(acknowledgements.c.receipt)).scalar_one()
    check(
        Acknowledgement.from_dict(json.loads(kept)),
        [pair.can.public.signing],
        receiver="CAN",
        package=released["package"],
        item=item,
    )
    [delivered] = pair.audited("package.delivered")
    assert delivered["receipt"]["seq"] == receipt["seq"]


def test_the_releases_of_a_batch_share_one_head(pair: Pair) -> None:
    items = pair.items(5)
    results = pair.jpn.exchange.release_many(pair.analyst, "CAN", items)
    assert {r["state"] for r in results if isinstance(r, dict)} == {State.DELIVERED}
    receipts = [pair.history(item)[0]["receipt"] for item in items]
    assert len({(r["tree_size"], r["root"]) for r in receipts}) == 1
    assert len({r["seq"] for r in receipts}) == 5


@pytest.mark.parametrize("before", [0, 1, 6])  # paths of one to three hashes
def test_a_receipt_is_kept_as_the_json_of_what_it_says(before: int) -> None:
    key = Ed25519PrivateKey.generate()
    marking = 'CAN SECRET // JPN 極秘 // "JPN-CAN" \\ \n'  # quoted, escaped, not ASCII
    said = signed_receipt(key, package="p-1", item="i-1", marking=marking, before=before)
    receipt = Acknowledgement.from_dict(said)
    text = receipt.to_json()
    assert text == json.dumps(said, ensure_ascii=False, separators=(",", ":"))
    assert Acknowledgement.from_dict(json.loads(text)) == receipt


def test_an_outcome_acknowledged_keeps_every_other_field() -> None:
    said = signed_receipt(Ed25519PrivateKey.generate(), package="p-1", item="i-1")
    receipt = Acknowledgement.from_dict(said)
    outcome = Outcome("a row", State.DELIVERED, "a reason", True, said)
    assert outcome.acknowledged(receipt) == replace(outcome, acknowledgement=receipt)
    # a field added to Outcome is one ``acknowledged`` must copy too
    assert len(fields(Outcome)) == 6


def flipped_signature(receipt: dict[str, Any]) -> dict[str, Any]:
    """The receipt with its head's signature (the receipt's) changed."""
    signature = bytearray.fromhex(receipt["head"]["signature"])
    signature[0] ^= 1
    return receipt | {"head": receipt["head"] | {"signature": signature.hex()}}


def test_a_forged_receipt_is_refused_and_asked_for_again(pair: Pair) -> None:
    [item] = pair.items(1)
    pair.wire.tamper = flipped_signature
    released = pair.release(item)
    package = released["package"]
    assert released["state"] == State.UNACKNOWLEDGED, released

    [shown] = pair.history(item)
    assert (shown["state"], shown["receipt"]) == ("unacknowledged", None)
    assert "not signed by CAN" in shown["last_error"]
    row = pair.outbox_row(package)
    assert row.delivered_at is not None  # delivered: Canada holds it
    assert row.next_attempt_at > dt.datetime.now(dt.UTC).isoformat()  # backing off
    [why] = pair.audited("package.unacknowledged")
    assert why["package"] == package
    assert why["reason"] == "its tree head is not signed by CAN"
    assert pair.audited("package.delivered")[0]["package"] == package

    # the loop posts it again once due; Canada answers with its receipt again
    pair.wire.tamper = None
    pair.due_now(package)
    pair.jpn.exchange.courier.run_due()
    [shown] = pair.history(item)
    assert shown["state"] == "delivered"
    assert shown["receipt"]["verified"] is True
    assert pair.wire.posted == [package, package]
    assert [a["package"] for a in pair.audited("package.acknowledged")] == [package]
    assert len(pair.audited("package.delivered")) == 1  # delivered once, acknowledged later


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"package": "another-package"}, "it is for package another-package"),
        ({"item": "another-item"}, "it is for item another-item"),
    ],
)
def test_a_receipt_for_another_package_is_refused(
    pair: Pair, change: dict[str, str], reason: str
) -> None:
    [item] = pair.items(1)

    def another(receipt: dict[str, Any]) -> dict[str, Any]:
        # a receipt Canada really signed, for something else
        mine = {"package": receipt["package"], "item": receipt["item"]} | change
        return signed_receipt(pair.can.keys.signing, **mine)

    pair.wire.tamper = another
    released = pair.release(item)
    assert released["state"] == State.UNACKNOWLEDGED
    [why] = pair.audited("package.unacknowledged")
    assert why["reason"].startswith(reason), why
    assert pair.history(item)[0]["receipt"] is None


def test_a_receipt_whose_proof_does_not_match_its_head_is_refused(pair: Pair) -> None:
    [item] = pair.items(1)

    def other_path(receipt: Acknowledgement) -> Acknowledgement:
        path = (bytes(32), *receipt.path[1:])
        return replace(receipt, path=path)

    pair.wire.tamper = resigned(pair, other_path)
    assert pair.release(item)["state"] == State.UNACKNOWLEDGED
    [why] = pair.audited("package.unacknowledged")
    assert why["reason"].startswith("its entry is not proven in its head"), why


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda r: replace(r, head=replace(r.head, signature=bytes(64))),
            "its tree head is not signed by CAN",
        ),
        (lambda r: replace(r, marking="JPN 極秘"), "its marking 'JPN 極秘' is not CAN's"),
        (
            lambda r: replace(r, entry=r.entry.replace("stored", "refused")),
            "its entry is not proven in its head",
        ),
    ],
)
def test_a_receipt_that_proves_nothing_is_refused(
    pair: Pair, change: Callable[[Acknowledgement], Acknowledgement], reason: str
) -> None:
    [item] = pair.items(1)
    pair.wire.tamper = resigned(pair, change)
    assert pair.release(item)["state"] == State.UNACKNOWLEDGED
    [why] = pair.audited("package.unacknowledged")
    assert why["reason"].startswith(reason), why


def test_a_lost_answer_is_obtained_on_retry(pair: Pair) -> None:
    [item] = pair.items(1)
    pair.wire.drop = True
    released = pair.release(item)
    assert released["state"] == State.PENDING  # no answer: posted again later
    pair.wire.drop = False
    package = released["package"]
    pair.due_now(package)
    pair.jpn.exchange.courier.run_due()
    [shown] = pair.history(item)
    assert (shown["state"], shown["receipt"]["verified"]) == ("delivered", True)
    assert pair.wire.posted == [package, package]  # Canada stored it once, answered twice
    with pair.can.engine.connect() as connection:
        kinds = [
            json.loads(b)["data"].get("reason")
            for b in connection.execute(
                select(audit_entries.c.body).where(audit_entries.c.kind == "package.refused")
            ).scalars()
        ]
    assert kinds == ["REPLAY"]


def test_a_receipt_left_out_is_asked_for_again(pair: Pair) -> None:
    [item] = pair.items(1)
    pair.wire.tamper = lambda receipt: None
    released = pair.release(item)
    assert released["state"] == State.UNACKNOWLEDGED
    [why] = pair.audited("package.unacknowledged")
    assert why["reason"] == "the answer carries no receipt"
    pair.wire.tamper = None
    pair.due_now(released["package"])
    pair.jpn.exchange.courier.run_due()
    assert pair.history(item)[0]["state"] == "delivered"


def bundle_of(pair: Pair, item: str, tmp_path: Path) -> Path:
    out = tmp_path / "evidence.json"
    out.write_text(json.dumps(prove(pair.jpn, OPERATOR, item=item)), encoding="utf-8")
    return out


def test_the_evidence_bundle_carries_the_receipts(pair: Pair, tmp_path: Path) -> None:
    [item] = pair.items(1)
    pair.release(item)
    out = bundle_of(pair, item, tmp_path)
    [carried] = json.loads(out.read_text())["receipts"]
    assert carried["partner"] == "CAN"
    assert carried["signing_keys"] == [pair.can.public.signing.hex()]
    assert carried["receipt"]["seq"] == pair.history(item)[0]["receipt"]["seq"]
    result = CliRunner().invoke(app, ["audit", "check", str(out)])
    assert result.exit_code == 0, result.output
    said = "1 partners' receipts, each for the item, its entry proven in the partner's signed head"
    assert said in result.output


def _flip(text: str, at: int = 0) -> str:
    """``text`` with one character changed (a hex digit, or a letter)."""
    old = text[at]
    new = "0" if old != "0" else "1"
    return text[:at] + new + text[at + 1 :]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda r: r | {"head": r["head"] | {"signature": _flip(r["head"]["signature"])}},
            "its tree head is not signed by CAN",
        ),
        (
            lambda r: (
                r | {"inclusion_path": [_flip(r["inclusion_path"][0]), *r["inclusion_path"][1:]]}
            ),
            "its entry is not proven in its head",  # the path is not signed: it is proven
        ),
        (
            lambda r: r | {"marking": _flip(r["marking"], 4)},
            "its entry says another package, item or marking",
        ),
        (lambda r: r | {"entry": r["entry"].replace('"stored"', '"storeD"')}, "not proven"),
    ],
)
def test_one_byte_of_a_receipt_changed_fails_the_check(
    pair: Pair, tmp_path: Path, change: Callable[[dict[str, Any]], dict[str, Any]], reason: str
) -> None:
    [item] = pair.items(1)
    pair.release(item)
    out = bundle_of(pair, item, tmp_path)
    bundle = json.loads(out.read_text())
    bundle["receipts"][0]["receipt"] = change(bundle["receipts"][0]["receipt"])
    out.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(app, ["audit", "check", str(out)])
    assert result.exit_code == 1, result.output
    assert "receipts[0] (CAN)" in result.output
    assert reason in result.output
    with pytest.raises(EvidenceError, match="receipts"):
        check_bundle(out.read_bytes())
