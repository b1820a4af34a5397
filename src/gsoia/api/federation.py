"""Federation over HTTP: the node's identity, its inbox, and what partners ask of its audit
log (the REST API of releases and consents: ``gsoia.api.releases``)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gsoia.api.problems import problem
from gsoia.api.releases import releases_router
from gsoia.federation.carried import HEADER
from gsoia.federation.packages import MAX_BATCH, PackageRejected, Rejection
from gsoia.federation.peers import INBOX_BATCH
from gsoia.federation.witnessing import CONSISTENCY, HELD_HEAD
from gsoia.node import floods
from gsoia.node.floods import client_address
from gsoia.node.holdings import MAX_CURSOR
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
    Rejection.BAD_HEAD: 403,
    Rejection.WITNESS_ALARM: 503,  # the sender keeps it, until an officer acknowledges
    Rejection.UNKNOWN_VISIT: 404,
}


def federation_router(node: Node) -> APIRouter:
    router = APIRouter()
    exchange = node.exchange
    batches = anyio.Lock()

    @router.get("/.well-known/gsoia", summary="This node's nation and public keys")
    def well_known() -> dict[str, Any]:
        return exchange.identity()

    def too_many(request: Request) -> JSONResponse | None:
        return refusing(node, request)

    @router.post(
        "/federation/v1/inbox",
        summary="Packages from partner nodes",
        description=(
            "429 with Retry-After, before the package is read, while the client's address"
            " has spent its budget of refusals of packages no pinned peer signed"
            f" ({floods.BUDGET} a minute, per server process)."
        ),
    )
    async def inbox(request: Request) -> JSONResponse:
        limited = await run_in_threadpool(too_many, request)
        if limited is not None:
            return limited
        raw = await request.body()
        try:  # checking and storing is blocking work: off the event loop
            result = await run_in_threadpool(
                exchange.receive,
                raw,
                source=client_address(request.scope),
                carried=request.headers.get(HEADER),
            )
        except PackageRejected as e:
            return _refused(e, request)
        return JSONResponse(result)

    @router.post(
        INBOX_BATCH,
        summary="Several packages from a partner node, one per line (application/x-ndjson)",
        description=(
            "Each line is one package, checked and applied exactly as if it had been posted"
            " alone to the inbox. The answer says, in order, what came of each: `status` is"
            " the status the inbox would have answered (200 applied, or the refusal's),"
            " with the refusal's `reason` and `detail`, or the inbox's answer as `result`."
            f" At most {MAX_BATCH} packages; a body that is not a batch is refused whole."
            " 429 with Retry-After, before the batch is read, while the client's address"
            " has spent its budget of refusals of packages no pinned peer signed"
            f" ({floods.BUDGET} a minute, per server process)."
        ),
    )
    async def inbox_batch(request: Request) -> JSONResponse:
        limited = await run_in_threadpool(too_many, request)
        if limited is not None:
            return limited
        raw = await request.body()
        source = client_address(request.scope)
        try:
            async with batches:  # one at a time: the work is CPU-bound, under one GIL
                # (and again: the batches before it may have spent the budget meanwhile)
                limited = await run_in_threadpool(too_many, request)
                if limited is not None:
                    return limited
                results = await run_in_threadpool(
                    exchange.receive_batch, raw, source=source, carried=request.headers.get(HEADER)
                )
        except PackageRejected as e:
            return _refused(e, request)
        return JSONResponse({"results": [batch_answer(p, r) for p, r in results]})

    router.include_router(releases_router(node))

    witness_routes(router, node)

    return router


def witness_routes(router: APIRouter, node: Node) -> None:
    """What a pinned peer asks of this node's audit log, and of the head it holds of the
    peer's (``gsoia.node.exchange.witnesses``); each request signed by the peer."""
    exchange = node.exchange

    @router.get(
        CONSISTENCY,
        summary="A consistency proof of this node's audit log, for a pinned peer",
        description=(
            "RFC 9162: the proof that the tree of `first` entries is a prefix of the tree of"
            " `second`. The request is signed by a pinned peer (headers Gsoia-From,"
            " Gsoia-Created, Gsoia-Signature); 422 when the log holds no such trees."
        ),
    )
    async def consistency(
        request: Request,
        first: Annotated[int, Query(ge=1, le=MAX_CURSOR)],
        second: Annotated[int, Query(ge=1, le=MAX_CURSOR)],
    ) -> JSONResponse:
        limited = await run_in_threadpool(refusing, node, request)
        if limited is not None:
            return limited
        try:
            result = await run_in_threadpool(
                exchange.witnesses.consistency_for,
                request.headers,
                first,
                second,
                client_address(request.scope),
            )
        except PackageRejected as e:
            return _refused(e, request)
        return JSONResponse(result)

    @router.get(
        HELD_HEAD,
        summary="The head this node holds of the asking peer's audit log",
        description="Signed by a pinned peer as a consistency request is (`what`: held-head).",
    )
    async def held_head(request: Request) -> JSONResponse:
        limited = await run_in_threadpool(refusing, node, request)
        if limited is not None:
            return limited
        try:
            result = await run_in_threadpool(
                exchange.witnesses.held_for, request.headers, client_address(request.scope)
            )
        except PackageRejected as e:
            return _refused(e, request)
        return JSONResponse(result)


def refusing(node: Node, request: Request) -> JSONResponse | None:
    """429 when the client's address has spent its budget of refusals (nothing read)."""
    source = client_address(request.scope)
    wait = node.floods.retry_after(source) if source is not None else None
    if source is None or wait is None:
        return None
    action = f"{request.method} {request.url.path}"
    node.count_refusal(source, floods.too_many(action, wait), spend=False)
    detail = f"too many refused packages from this address: retry in {wait} s"
    answer = problem(429, "too-many-refusals", "Too many refusals", detail, request)
    answer.headers["Retry-After"] = str(wait)
    return answer


def _refused(error: PackageRejected, request: Request) -> JSONResponse:
    receipt = {} if error.receipt is None else {"receipt": error.receipt}  # received before
    return problem(
        _REJECTION_STATUS.get(error.reason, 422),
        "package-refused",
        "Package refused",
        error.detail,
        request,
        reason=error.reason.value,
        package=error.package_id,
        **receipt,
    )


def batch_answer(package: str | None, outcome: dict[str, Any] | Exception) -> dict[str, Any]:
    """One package's answer in a batch: what the inbox answers for it alone."""
    if isinstance(outcome, PackageRejected):
        answer: dict[str, Any] = {
            "package": package,
            "status": _REJECTION_STATUS.get(outcome.reason, 422),
            "reason": outcome.reason.value,
            "detail": outcome.detail.splitlines()[0] if outcome.detail else "",
        }
        if outcome.receipt is not None:  # a release received before: its receipt again
            answer["receipt"] = outcome.receipt
        return answer
    if isinstance(outcome, Exception):
        return {"package": package, "status": 500, "detail": "the node could not do this"}
    return {"package": package, "status": 200, "result": outcome}
