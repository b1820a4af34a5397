"""Alarms of two histories: raised about a partner, read for the officers, acknowledged.

A partner shown to have signed two histories of its audit log (``witnesses``: by the
heads it showed this node; ``gossip``: by a head another partner holds) is under an
alarm: an audit entry (``witness.alarm``), a metric, a banner for officers, and every
package from it refused until an officer acknowledges (``acknowledge``, audited with a
note). Acknowledging an alarm raised by the heads the partner showed this node makes the
last one it showed the head held; one raised by gossip leaves the head held as it was.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, update

from gsoia.audit.log import TreeHead
from gsoia.errors import InputError
from gsoia.node.authority import Action
from gsoia.node.errors import NotFound
from gsoia.node.exchange.received import usable_id
from gsoia.node.users import User
from gsoia.store.schema import witness_alarms, witnessed_heads

if TYPE_CHECKING:
    from gsoia.node.service import Node

_OPEN_FOR = (
    select(witness_alarms)
    .where(
        witness_alarms.c.nation == bindparam("nation"), witness_alarms.c.acknowledged_at.is_(None)
    )
    .limit(1)
)


@dataclass(frozen=True)
class Alarm:
    id: str
    nation: str
    reason: str
    raised_at: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "nation": self.nation,
            "reason": self.reason,
            "raised_at": self.raised_at,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "note": self.note,
        }


class Alarms:
    """The alarms of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def raise_alarm(
        self,
        nation: str,
        reason: str,
        held: TreeHead,
        shown: TreeHead,
        gossiped_by: str | None = None,
    ) -> None:
        """Alarm: ``nation`` signed ``held`` and ``shown``, two histories (``shown``
        gossiped by the partner ``gossiped_by``, or shown by ``nation`` itself)."""
        alarm_id = str(uuid.uuid4())
        node = self.node
        shown_as = shown.to_dict() | ({} if gossiped_by is None else {"gossiped_by": gossiped_by})

        def raised(tx: Any) -> None:
            tx.connection.execute(
                insert(witness_alarms).values(
                    id=alarm_id,
                    nation=nation,
                    reason=reason,
                    held=json.dumps(held.to_dict()),
                    shown=json.dumps(shown_as),
                    raised_at=node.audit.now(),
                )
            )
            data = {
                "alarm": alarm_id,
                "peer": nation,
                "reason": reason,
                "held": held.to_dict(),
                "shown": shown.to_dict(),
            }
            if gossiped_by is not None:
                data["gossiped_by"] = gossiped_by
            tx.append("witness.alarm", "inbox", data)

        node.audit.batched(raised)
        node.metrics.witness_alarms.inc()

    def raised_before(self, nation: str, held: TreeHead, shown: TreeHead) -> bool:
        """Whether an alarm (open or acknowledged) about ``nation`` names these two heads."""
        with self.node.engine.connect() as connection:
            rows = connection.execute(
                select(witness_alarms.c.held, witness_alarms.c.shown).where(
                    witness_alarms.c.nation == nation
                )
            ).all()
        pair = {_named(held), _named(shown)}
        return any(
            {_named(_head(json.loads(r.held))), _named(_head(json.loads(r.shown)))} == pair
            for r in rows
        )

    def open_for(self, nation: str) -> Alarm | None:
        """The open alarm about ``nation``, if any."""
        with self.node.engine.connect() as connection:
            return open_in(connection, nation)

    def open(self) -> list[Alarm]:
        """Alarms no officer acknowledged yet (for the officers' banner)."""
        with self.node.engine.connect() as connection:
            rows = connection.execute(
                select(witness_alarms)
                .where(witness_alarms.c.acknowledged_at.is_(None))
                .order_by(witness_alarms.c.raised_at)
            )
            return [_alarm(row) for row in rows]

    def listed(self) -> list[Alarm]:
        """Every alarm, open or acknowledged, oldest first."""
        with self.node.engine.connect() as connection:
            rows = connection.execute(select(witness_alarms).order_by(witness_alarms.c.raised_at))
            return [_alarm(row) for row in rows]

    def acknowledge(self, user: User, alarm_id: str, note: str) -> dict[str, Any]:
        """An officer acknowledges an alarm: packages from that partner are accepted again,
        and the head it showed last becomes the one held (audited, with the note)."""
        node = self.node
        node.require(user, Action.ACKNOWLEDGE)
        if not usable_id(alarm_id):
            raise NotFound(f"no open alarm '{alarm_id[:64]}'")
        if "\x00" in note:
            raise InputError.of("note", "NUL characters are not accepted")

        def acknowledged(tx: Any) -> dict[str, Any]:
            row = tx.connection.execute(
                select(witness_alarms).where(witness_alarms.c.id == alarm_id)
            ).first()
            if row is None or row.acknowledged_at is not None:
                raise NotFound(f"no open alarm '{alarm_id}'")
            at = node.audit.now()
            tx.connection.execute(
                update(witness_alarms)
                .where(witness_alarms.c.id == alarm_id)
                .values(acknowledged_by=user.id, acknowledged_at=at, note=note)
            )
            shown = json.loads(row.shown)
            if "gossiped_by" not in shown:  # a head another partner holds is not shown here
                tx.connection.execute(
                    update(witnessed_heads)
                    .where(witnessed_heads.c.nation == row.nation)
                    .values(
                        size=shown["size"],
                        root=bytes.fromhex(shown["root"]),
                        signature=bytes.fromhex(shown["signature"]),
                        at=shown["at"],
                        seen_at=at,
                        pending=None,
                    )
                )
            tx.append(
                "witness.acknowledged",
                user.id,
                {"alarm": alarm_id, "peer": row.nation, "note": note, "head": shown},
            )
            return _alarm(row).to_dict() | {
                "acknowledged_by": user.id,
                "acknowledged_at": at,
                "note": note,
            }

        result: dict[str, Any] = node.audit.batched(acknowledged)
        return result


def _head(data: dict[str, Any]) -> TreeHead:
    return TreeHead(
        data["size"], bytes.fromhex(data["root"]), bytes.fromhex(data["signature"]), data["at"]
    )


def _named(head: TreeHead) -> tuple[int, bytes]:
    return head.size, head.root


def _alarm(row: Any) -> Alarm:
    return Alarm(
        row.id,
        row.nation,
        row.reason,
        row.raised_at,
        row.acknowledged_by,
        row.acknowledged_at,
        row.note,
    )


def open_in(connection: Connection, nation: str) -> Alarm | None:
    """The open alarm about ``nation``, if any, read on ``connection`` (with what else the
    caller reads there)."""
    row = connection.execute(_OPEN_FOR, {"nation": nation}).first()
    return None if row is None else _alarm(row)
