"""Who is calling: ``Authorization: Bearer TOKEN`` or HTTP Basic (user id and token)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from gsoia.node.authority import Action
from gsoia.node.errors import Unauthorized
from gsoia.node.routes import scope_action
from gsoia.node.service import Node
from gsoia.node.users import User


def credentials(header: str | None) -> tuple[str, str | None]:
    """``(token, user id or None)`` from an Authorization header, or ``Unauthorized``."""
    if not header:
        raise Unauthorized("send Authorization: Bearer TOKEN (or Basic user:token)")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value, None
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise Unauthorized("malformed Basic credentials") from e
        user_id, sep, token = decoded.partition(":")
        if not sep or not token:
            raise Unauthorized("Basic credentials are user id and token")
        return token, user_id
    raise Unauthorized("unsupported Authorization scheme (Bearer or Basic)")


def authenticate(node: Node, request: Request) -> User:
    token, user_id = credentials(request.headers.get("authorization"))
    user = node.authenticate(token, user_id)
    request.state.user = user
    return user


def authorized(node: Node, request: Request, action: Action | None) -> User:
    """The caller, authenticated and admitted to ``action`` by the node's authority (who,
    which role, which nation); the action's checks on its target follow in the node."""
    user = authenticate(node, request)
    node.authority.admits(user, action).check()
    return user


def current_user(request: Request) -> User:
    """The caller of a route, authenticated and admitted to the route's action (a route
    the table of routes does not know is refused)."""
    node: Node = request.app.state.node
    return authorized(node, request, scope_action(request.scope))


Caller = Annotated[User, Depends(current_user)]
"""A route parameter of this type is the caller, authenticated and admitted to the route's
action."""
