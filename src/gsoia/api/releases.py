"""The REST API of releases, consents, reclassification, the outbox and the pinned peers
(``gsoia.node.exchange``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gsoia.api.auth import Caller
from gsoia.api.problems import problem_for
from gsoia.errors import GsoiaError
from gsoia.node.service import Node


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReleaseIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The partner nation")


MAX_RELEASES = 1000
"""Items in one bulk release, at most."""


class ReleasesIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The partner nation")
    items: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1,
        max_length=MAX_RELEASES,
        description=f"The ids of the items to release, each once (at most {MAX_RELEASES})",
    )

    @field_validator("items")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each item once")
        return value


Note = Field(
    default=None,
    max_length=1000,
    description="The officer's note (conditions of consent, or the reason), told and audited",
)


class ConsentIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The third party consented to")
    custodian: str | None = Field(
        default=None,
        max_length=32,
        description="A custodian to tell (besides those that asked and those holding the item)",
    )
    note: str | None = Note


class NoteIn(_In):
    note: str | None = Note


class ConsentRequestIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The third party to release to")


class ConsentDecisionIn(_In):
    grant: bool
    note: str | None = Note


class ClassificationIn(_In):
    classification: str = Field(min_length=1, max_length=64)


def releases_router(node: Node) -> APIRouter:
    router = APIRouter()
    exchange = node.exchange

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

    whereabouts_routes(router, node)

    @router.post(
        "/api/v1/items/{item_id}/releases",
        status_code=201,
        summary="Release an item to a partner node: decide, seal, deliver",
    )
    def release(item_id: str, body: ReleaseIn, caller: Caller) -> dict[str, Any]:
        return exchange.release(caller, item_id, body.to)

    @router.post(
        "/api/v1/releases",
        summary="Release several items to a partner node: each decided, sealed, delivered",
        description=(
            "Each item is decided for the partner and released exactly as"
            " `POST /api/v1/items/{item_id}/releases` would release it, or refused for the"
            " reason that would give (each refusal audited); the packages then go to the"
            " partner's node together. `results` follows the order of `items`: a released"
            " item as the single release answers it, with `released: true`; a refused one"
            " with `released: false` and the `problem` the single release would answer."
        ),
        response_model=dict[str, Any],
    )
    def release_many(body: ReleasesIn, caller: Caller, request: Request) -> JSONResponse:
        outcomes = exchange.release_many(caller, body.to, body.items)
        results: list[dict[str, Any]] = []
        for item_id, outcome in zip(body.items, outcomes, strict=True):
            if isinstance(outcome, GsoiaError):
                answer = json.loads(bytes(problem_for(outcome, request).body))
                results.append({"item": item_id, "released": False, "problem": answer})
            else:
                results.append(outcome | {"released": True})
        released = sum(r["released"] for r in results)
        return JSONResponse(
            {
                "to": body.to,
                "released": released,
                "refused": len(results) - released,
                "results": results,
            }
        )

    consent_routes(router, node)

    outbox_routes(router, node)
    return router


def whereabouts_routes(router: APIRouter, node: Node) -> None:
    """Where an item went: its releases with their receipts, and its custody."""
    exchange = node.exchange

    @router.get(
        "/api/v1/items/{item_id}/releases",
        summary="Where the item was released, each release with its partner's receipt",
        description=(
            "Oldest first. `state`: `delivered` once the partner's signed receipt verified"
            " (`receipt`: `verified`, the partner's audit entry `seq`, the `tree_size` and"
            " `root` of its signed head the entry is proven in, the `marking` the partner"
            " gave the item); `unacknowledged` while it was delivered without a receipt"
            " that verifies (asked for again, `last_error` says why); else the delivery's"
            " state (`pending`, `failed`, `cancelled`), `receipt` null."
        ),
    )
    def release_history(item_id: str, caller: Caller) -> list[dict[str, Any]]:
        return exchange.release_history(caller, item_id)

    @router.get(
        "/api/v1/items/{item_id}/custody",
        summary="Where the item is held, each package that carried it, and what happened",
        description=(
            "`holders`: the originator, this node, and each nation a package reached;"
            " `chain`: each package that carried the item (`from`, `to`, `state`: `queued`,"
            " `retrying` with `last_error`, `delivered`, `received` with the partner's"
            " verified `receipt`, `refused` with the partner's reason in `last_error`,"
            " `cancelled`; an onward release a custodian told this node of (`told_by`,"
            " `told_at`) is `reported` until the custodian tells what came of it:"
            " `delivered`, `received`, `refused` or `cancelled`, the reason in `last_error`);"
            " `events`: creation, releases, receipts, consents, consent requests and their"
            " answers, reclassifications and incidents, oldest first."
        ),
    )
    def item_custody(item_id: str, caller: Caller) -> dict[str, Any]:
        return exchange.custody(caller, item_id)


def outbox_routes(router: APIRouter, node: Node) -> None:
    """What this node sends, and an officer's cancelling of it."""
    exchange = node.exchange

    @router.get("/api/v1/outbox", summary="Deliveries to partner nodes (officer)")
    def outbox(caller: Caller) -> list[dict[str, Any]]:
        return exchange.outbox(caller)

    @router.post(
        "/api/v1/outbox/{package_id}/cancel",
        summary="Cancel a delivery (officer); an optional note says why, audited",
    )
    def cancel(package_id: str, caller: Caller, body: NoteIn | None = None) -> dict[str, Any]:
        return exchange.cancel(caller, package_id, body.note if body is not None else None)


def consent_routes(router: APIRouter, node: Node) -> None:
    """Consents to third-party releases: given, asked for, and answered."""
    exchange = node.exchange

    @router.post(
        "/api/v1/items/{item_id}/consents",
        status_code=201,
        summary="The originator's consent to a third-party release (officer)",
    )
    def consent(item_id: str, body: ConsentIn, caller: Caller) -> dict[str, Any]:
        return exchange.consent(caller, item_id, body.to, body.custodian, body.note)

    @router.get(
        "/api/v1/items/{item_id}/consents",
        summary="The consents the item carries, newest first",
        description=(
            "On the originator's node: each consent its officers gave (`state`: `given` or"
            " `withdrawn`, with `note`); on a custodian's: the originator's grants kept with"
            " the copy (`state`: `received`)."
        ),
    )
    def consents(item_id: str, caller: Caller) -> list[dict[str, Any]]:
        return exchange.consents_of(caller, item_id)

    @router.post(
        "/api/v1/items/{item_id}/consents/{party}/withdraw",
        summary="Withdraw a consent (officer of the originator); every custodian is told",
    )
    def withdraw(
        item_id: str, party: str, caller: Caller, body: NoteIn | None = None
    ) -> dict[str, Any]:
        note = body.note if body is not None else None
        return exchange.withdraw_consent(caller, item_id, party[:32], note)

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

    @router.get(
        "/api/v1/consent-requests/sent",
        summary="The consent requests this node sent its originators, and their answers",
        description=(
            "Newest first: `state` `pending` until the originator's node answers, then"
            " `granted` or `refused` with `answered_at` and the officer's `note` (officer)."
        ),
    )
    def consent_requests_sent(caller: Caller) -> list[dict[str, Any]]:
        return exchange.consent_requests_sent(caller)

    @router.post(
        "/api/v1/consent-requests/{request_id}", summary="Grant or refuse a request (officer)"
    )
    def decide_request(request_id: str, body: ConsentDecisionIn, caller: Caller) -> dict[str, Any]:
        return exchange.decide_request(caller, request_id, grant=body.grant, note=body.note)

    @router.post(
        "/api/v1/items/{item_id}/classification",
        summary="Downgrade or upgrade an item (its originator's officer); custodians re-mark",
    )
    def reclassify(item_id: str, body: ClassificationIn, caller: Caller) -> dict[str, Any]:
        return exchange.reclassify(caller, item_id, body.classification)
