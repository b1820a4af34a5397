"""Federation over HTTP: the node's identity, its inbox, and the release and consent API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gsoia.api.auth import Caller
from gsoia.api.problems import problem
from gsoia.federation.packages import PackageRejected, Rejection
from gsoia.node.service import Node

_REJECTION_STATUS = {
    Rejection.MALFORMED: 422,
    Rejection.OVERSIZE: 413,
    Rejection.WRONG_RECIPIENT: 421,
    Rejection.UNKNOWN_PEER: 403,
    Rejection.BAD_SIGNATURE: 403,
    Rejection.STALE: 422,
    Rejection.REPLAY: 409,
    Rejection.BAD_BINDING: 422,
    Rejection.BAD_SEAL: 422,
    Rejection.NOT_ORIGINATOR: 403,
    Rejection.NO_CONSENT: 403,
    Rejection.REFUSED: 403,
    Rejection.UNKNOWN_ITEM: 404,
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReleaseIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The partner nation")


class ConsentIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The third party consented to")
    custodian: str | None = Field(
        default=None, max_length=32, description="A custodian to tell (besides those who asked)"
    )


class ConsentRequestIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The third party to release to")


class ConsentDecisionIn(_In):
    grant: bool


class ClassificationIn(_In):
    classification: str = Field(min_length=1, max_length=64)


def federation_router(node: Node) -> APIRouter:
    router = APIRouter()
    exchange = node.exchange

    @router.get("/.well-known/gsoia", summary="This node's nation and public keys")
    def well_known() -> dict[str, Any]:
        return exchange.identity()

    @router.post("/federation/v1/inbox", summary="Packages from partner nodes")
    async def inbox(request: Request) -> JSONResponse:
        raw = await request.body()
        try:  # checking and storing is blocking work: off the event loop
            result = await run_in_threadpool(exchange.receive, raw)
        except PackageRejected as e:
            return problem(
                _REJECTION_STATUS.get(e.reason, 422),
                "package-refused",
                "Package refused",
                e.detail,
                request,
                reason=e.reason.value,
                package=e.package_id,
            )
        return JSONResponse(result)

    @router.get("/api/v1/peers", summary="The pinned peers")
    def list_peers(caller: Caller) -> list[dict[str, Any]]:
        return exchange.peers()

    @router.get(
        "/api/v1/items/{item_id}/releases/preview",
        summary="What a release to a partner would decide (rules 1-5), nothing sent",
    )
    def preview(
        item_id: str, caller: Caller, to: str = Query(min_length=1, max_length=32)
    ) -> dict[str, Any]:
        return exchange.preview(caller, item_id, to).to_dict()

    @router.post(
        "/api/v1/items/{item_id}/releases",
        status_code=201,
        summary="Release an item to a partner node: decide, seal, deliver",
    )
    def release(item_id: str, body: ReleaseIn, caller: Caller) -> dict[str, Any]:
        return exchange.release(caller, item_id, body.to)

    @router.post(
        "/api/v1/items/{item_id}/consents",
        status_code=201,
        summary="The originator's consent to a third-party release (officer)",
    )
    def consent(item_id: str, body: ConsentIn, caller: Caller) -> dict[str, Any]:
        return exchange.consent(caller, item_id, body.to, body.custodian)

    @router.post(
        "/api/v1/items/{item_id}/consent-requests",
        status_code=201,
        summary="Ask the originator for consent to release to a third party",
    )
    def request_consent(item_id: str, body: ConsentRequestIn, caller: Caller) -> dict[str, Any]:
        return exchange.request_consent(caller, item_id, body.to)

    @router.get("/api/v1/consent-requests", summary="Consent requests from custodians (officer)")
    def consent_requests(caller: Caller) -> list[dict[str, Any]]:
        return exchange.consent_requests(caller)

    @router.post(
        "/api/v1/consent-requests/{request_id}", summary="Grant or refuse a request (officer)"
    )
    def decide_request(request_id: str, body: ConsentDecisionIn, caller: Caller) -> dict[str, Any]:
        return exchange.decide_request(caller, request_id, grant=body.grant)

    @router.post(
        "/api/v1/items/{item_id}/classification",
        summary="Downgrade or upgrade an item (its originator's officer); custodians re-mark",
    )
    def reclassify(item_id: str, body: ClassificationIn, caller: Caller) -> dict[str, Any]:
        return exchange.reclassify(caller, item_id, body.classification)

    @router.get("/api/v1/outbox", summary="Deliveries to partner nodes (officer)")
    def outbox(caller: Caller) -> list[dict[str, Any]]:
        return exchange.outbox(caller)

    @router.post("/api/v1/outbox/{package_id}/cancel", summary="Cancel a delivery (officer)")
    def cancel(package_id: str, caller: Caller) -> dict[str, Any]:
        return exchange.cancel(caller, package_id)

    return router
