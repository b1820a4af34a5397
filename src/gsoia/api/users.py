"""The REST API of accounts, for an admin of the node's nation (``users.manage``).

List, add (the token answered once), read, change (``PATCH``: clearance, its expiry,
need-to-know, role, security categories), disable, enable, rotate the token (the new one
answered once) and remove. Each refusal is the authority's (``gsoia.node.accounts``), as
problem+json; an answer that carries a token is never stored by a cache.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gsoia.api.auth import Caller
from gsoia.node.accounts import KEEP, Changes, UserRecord
from gsoia.node.service import Node
from gsoia.node.users import Role

Topic = Annotated[str, Field(min_length=1, max_length=64)]
Categories = Annotated[
    dict[Topic, list[Topic]],
    Field(
        max_length=100,
        description="The security categories held: tag name -> category names (the catalogue's)",
    ),
]
UserId = Annotated[str, Path(min_length=1, max_length=128, description="The user's id")]
NO_STORE = {"Cache-Control": "no-store"}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_In):
    id: str = Field(min_length=1, max_length=128, description="The user's id (no ':')")
    nation: str = Field(min_length=1, max_length=32, description="A policy of the catalogue")
    clearance: str | None = Field(
        default=None, min_length=1, max_length=64, description="A level of the nation's policy"
    )
    clearance_expires: dt.date | None = None
    need_to_know: list[Topic] = Field(default_factory=list, max_length=100)
    role: Role = Role.ANALYST
    categories: Categories = Field(default_factory=dict)


class UserChangesIn(_In):
    """The fields to change; a field left out is kept, ``null`` clears it."""

    clearance: str | None = Field(default=None, min_length=1, max_length=64)
    clearance_expires: dt.date | None = None
    need_to_know: list[Topic] = Field(default_factory=list, max_length=100)
    role: Role = Role.ANALYST
    categories: Categories = Field(default_factory=dict)

    def changes(self) -> Changes:
        given = self.model_fields_set
        return Changes(
            clearance=self.clearance if "clearance" in given else KEEP,
            clearance_expires=self.clearance_expires if "clearance_expires" in given else KEEP,
            need_to_know=self.need_to_know if "need_to_know" in given else KEEP,
            role=self.role if "role" in given else KEEP,
            categories=self.categories if "categories" in given else KEEP,
        )


def _with_token(record: UserRecord, token: str, status: int = 200) -> JSONResponse:
    return JSONResponse(
        {"user": record.to_dict(), "token": token}, status_code=status, headers=NO_STORE
    )


def users_router(node: Node) -> APIRouter:
    """The accounts' routes under ``/api/v1/users``."""
    router = APIRouter(prefix="/api/v1/users", tags=["users"])
    accounts = node.accounts

    @router.get("", summary="Every account (admin)")
    def list_users(caller: Caller) -> list[dict[str, Any]]:
        return [record.to_dict() for record in accounts.list(caller)]

    @router.post(
        "",
        status_code=201,
        summary="Add an account; its API token is answered once (admin)",
        response_model=dict[str, Any],
    )
    def add_user(body: UserIn, caller: Caller) -> JSONResponse:
        record, token = accounts.add(
            caller,
            body.id,
            body.nation,
            clearance=body.clearance,
            clearance_expires=body.clearance_expires,
            need_to_know=body.need_to_know,
            role=body.role,
            categories=body.categories,
        )
        return _with_token(record, token, 201)

    @router.get("/{user_id}", summary="One account (admin)")
    def get_user(user_id: UserId, caller: Caller) -> dict[str, Any]:
        return accounts.get(caller, user_id).to_dict()

    @router.patch(
        "/{user_id}",
        summary="Change an account's clearance, its expiry, need-to-know, role or categories"
        " (admin)",
    )
    def set_user(user_id: UserId, body: UserChangesIn, caller: Caller) -> dict[str, Any]:
        return accounts.set(caller, user_id, body.changes()).to_dict()

    @router.post("/{user_id}/disable", summary="Disable an account and end its sessions (admin)")
    def disable_user(user_id: UserId, caller: Caller) -> dict[str, Any]:
        return accounts.disable(caller, user_id).to_dict()

    @router.post("/{user_id}/enable", summary="Enable a disabled account (admin)")
    def enable_user(user_id: UserId, caller: Caller) -> dict[str, Any]:
        return accounts.enable(caller, user_id).to_dict()

    @router.post(
        "/{user_id}/rotate-token",
        summary="A new API token, answered once; the old one and its sessions end (admin)",
        response_model=dict[str, Any],
    )
    def rotate_token(user_id: UserId, caller: Caller) -> JSONResponse:
        record, token = accounts.rotate_token(caller, user_id)
        return _with_token(record, token)

    @router.delete(
        "/{user_id}",
        status_code=204,
        summary="Remove an account and end its sessions (admin)",
        response_class=Response,
    )
    def remove_user(user_id: UserId, caller: Caller) -> Response:
        accounts.remove(caller, user_id)
        return Response(status_code=204)

    return router
