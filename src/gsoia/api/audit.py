"""The REST API of the audit log, for officers: its entries, its signed head, RFC 9162
proofs, and what this node witnesses of its partners' logs (``gsoia.node.audit_view``,
``gsoia.node.audit_proofs``, ``gsoia.node.exchange.witnesses``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gsoia.api.auth import Caller
from gsoia.node import audit_proofs
from gsoia.node.holdings import MAX_CURSOR
from gsoia.node.service import Node


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(
        min_length=1, max_length=10_000, description="What the officer found and decided"
    )


def audit_router(node: Node) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/audit", summary="Audit entries and the signed tree head (officer)")
    def audit(
        caller: Caller,
        after: Annotated[int, Query(ge=-1, le=MAX_CURSOR)] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return node.audit_entries(caller, after=after, limit=limit)

    @router.get("/api/v1/audit/head", summary="The audit log's latest signed tree head (officer)")
    def audit_head(caller: Caller) -> dict[str, Any]:
        return audit_proofs.head(node, caller)

    @router.get(
        "/api/v1/audit/proof/inclusion",
        summary="Entry seq's inclusion in the tree of size entries, RFC 9162 (officer)",
    )
    def audit_inclusion(
        caller: Caller,
        seq: Annotated[int, Query(ge=0, le=MAX_CURSOR)],
        size: Annotated[int, Query(ge=1, le=MAX_CURSOR)],
    ) -> dict[str, Any]:
        return audit_proofs.inclusion(node, caller, seq, size)

    @router.get(
        "/api/v1/audit/proof/consistency",
        summary="How the tree of first entries grew into second's, RFC 9162 (officer)",
    )
    def audit_consistency(
        caller: Caller,
        first: Annotated[int, Query(ge=1, le=MAX_CURSOR)],
        second: Annotated[int, Query(ge=1, le=MAX_CURSOR)],
    ) -> dict[str, Any]:
        return audit_proofs.consistency(node, caller, first, second)

    @router.get(
        "/api/v1/witness",
        summary="The head held of each partner's audit log, and the alarms (officer)",
    )
    def witness(caller: Caller) -> dict[str, Any]:
        return node.exchange.witnesses.view(caller)

    @router.post(
        "/api/v1/witness/alarms/{alarm_id}/acknowledge",
        summary="Acknowledge an alarm: packages from that partner are accepted again (officer)",
    )
    def acknowledge(alarm_id: str, body: AcknowledgeIn, caller: Caller) -> dict[str, Any]:
        return node.exchange.witnesses.acknowledge(caller, alarm_id, body.note)

    return router
