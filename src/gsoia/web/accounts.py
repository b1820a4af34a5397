"""The admin's page of accounts: every user of the node, and the forms that change them.

Add an account, change its clearance, expiry, need-to-know, role and security categories
(``gsoia.web.categories``: a box per category of each tag), disable or enable it,
rotate its token, remove it (``gsoia.node.accounts``: the authority decides who may, so a
non-admin's visit is refused there). A new token is shown once, on the page that answers
the form, never in a URL. Every button is a POST form with the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from gsoia.errors import InputError, RequestError
from gsoia.node.accounts import Changes
from gsoia.node.users import Role, User
from gsoia.web.categories import FIELD, chosen, field_of, holder_fields, options
from gsoia.web.items import TOPICS
from gsoia.web.site import Site

MAX_ID = 128
DONE = {
    "added": "added",
    "changed": "changed",
    "disabled": "disabled: its token and sessions no longer work",
    "enabled": "enabled: its token works again",
    "removed": "removed",
}
"""What a finished change says about the account, by the change (``?done=``)."""
KEPT = ("id", "nation", "clearance", "clearance_expires", "need_to_know", "role")
"""The new-account form's fields, shown again as typed when the form is refused."""


def _text(form: FormData, name: str, limit: int = 200) -> str:
    return str(form.get(name) or "").strip()[:limit]


def _day(form: FormData, name: str) -> dt.date | None:
    text = _text(form, name, 32)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RequestError.of(name, f"'{text}' is not a date (YYYY-MM-DD)") from None


def _role(form: FormData) -> Role:
    text = _text(form, "role", 16)
    try:
        return Role(text)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise RequestError.of("role", f"'{text}' is not a role ({roles})") from None


def _topics(form: FormData) -> list[str]:
    return [t for t in TOPICS.split(_text(form, "need_to_know")) if t]


def _categories(form: FormData) -> dict[str, list[str]]:
    return chosen(str(value)[:200] for value in form.getlist(FIELD))


def _changes(form: FormData) -> Changes:
    """The change form's fields, each replacing the account's (empty: none)."""
    return Changes(
        clearance=_text(form, "clearance", 64) or None,
        clearance_expires=_day(form, "clearance_expires"),
        need_to_know=_topics(form),
        role=_role(form),
        categories=_categories(form),
    )


class AccountsPage:
    """The accounts page and what its forms do, for ``add_routes``."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.node = site.node
        self.accounts = site.node.accounts

    def page(self, request: Request, admin: User, status: int = 200, **extra: Any) -> Response:
        """The accounts page; ``extra``: a token shown once, a form's problems."""
        done = request.query_params.get("done", "")
        values: dict[str, Any] = {
            "records": self.accounts.list(admin),
            "roles": [r.value for r in Role],
            "done": DONE.get(done, ""),
            "done_id": request.query_params.get("user", "")[:MAX_ID] if done in DONE else "",
            "token": None,
            "token_for": "",
            "problems": [],
            "problem_for": None,
            "kept": {},
            "errors": {},
            "tags": holder_fields(self.site.catalogue),
            "ticked": options,
        }
        return self.site.page(request, "users.html", status, nav="users", **(values | extra))

    def refused(
        self, request: Request, admin: User, error: InputError, about: str | None, form: FormData
    ) -> Response:
        """The page again, saying what was wrong with the form about ``about`` (None: the
        new account's); the refusal audited as the error pages' are."""
        self.node.refuse(admin.id, f"{request.method} {request.url.path}", error.diagnostics())
        kept: dict[str, Any] = {}
        if about is None:
            kept = {name: _text(form, name) for name in KEPT}
            kept[FIELD] = [str(value)[:200] for value in form.getlist(FIELD)]
        errors: dict[str, list[str]] = {}
        for problem in error.problems:
            tag = field_of(problem.place)
            if tag is not None:
                errors.setdefault(tag, []).append(problem.reason)
        return self.page(
            request,
            admin,
            422,
            problems=error.problems,
            problem_for=about or "",
            kept=kept,
            errors=errors,
        )

    def adding(self, request: Request, admin: User, form: FormData) -> Response:
        try:
            record, token = self.accounts.add(
                admin,
                _text(form, "id", MAX_ID + 1),
                _text(form, "nation", 32),
                clearance=_text(form, "clearance", 64) or None,
                clearance_expires=_day(form, "clearance_expires"),
                need_to_know=_topics(form),
                role=_role(form),
                categories=_categories(form),
            )
        except InputError as error:
            return self.refused(request, admin, error, None, form)
        return self.page(request, admin, token=token, token_for=record.id)

    def changing(self, request: Request, admin: User, user_id: str, form: FormData) -> Response:
        try:
            self.accounts.set(admin, user_id, _changes(form))
        except InputError as error:
            return self.refused(request, admin, error, user_id, form)
        return finished("changed", user_id)

    def rotating(self, request: Request, admin: User, user_id: str) -> Response:
        record, token = self.accounts.rotate_token(admin, user_id)
        return self.page(request, admin, token=token, token_for=record.id)


def finished(done: str, user_id: str) -> Response:
    """Back to the page, saying what was done to which account."""
    return RedirectResponse(
        f"/web/users?done={done}&user={quote(user_id, safe='')}#notice", status_code=303
    )


def add_routes(router: APIRouter, site: Site) -> None:
    accounts = site.node.accounts
    pages = AccountsPage(site)

    @router.get("/web/users")
    def users_page(request: Request) -> Response:
        return pages.page(request, site.user(request))

    @router.post("/web/users")
    async def add(request: Request) -> Response:
        form = await request.form()
        admin = site.check_form(request, form)
        return await run_in_threadpool(pages.adding, request, admin, form)

    @router.post("/web/users/{user_id}")
    async def change(request: Request, user_id: str) -> Response:
        form = await request.form()
        admin = site.check_form(request, form)
        return await run_in_threadpool(pages.changing, request, admin, user_id[: MAX_ID + 1], form)

    @router.post("/web/users/{user_id}/disable")
    async def disable(request: Request, user_id: str) -> Response:
        form = await request.form()
        admin = site.check_form(request, form)
        await run_in_threadpool(accounts.disable, admin, user_id[: MAX_ID + 1])
        return finished("disabled", user_id)

    @router.post("/web/users/{user_id}/enable")
    async def enable(request: Request, user_id: str) -> Response:
        form = await request.form()
        admin = site.check_form(request, form)
        await run_in_threadpool(accounts.enable, admin, user_id[: MAX_ID + 1])
        return finished("enabled", user_id)

    @router.post("/web/users/{user_id}/rotate-token")
    async def rotate(request: Request, user_id: str) -> Response:
        form = await request.form()
        admin = site.check_form(request, form)
        return await run_in_threadpool(pages.rotating, request, admin, user_id[: MAX_ID + 1])

    @router.post("/web/users/{user_id}/remove")
    async def remove(request: Request, user_id: str) -> Response:
        form = await request.form()
        admin = site.check_form(request, form)
        await run_in_threadpool(accounts.remove, admin, user_id[: MAX_ID + 1])
        return finished("removed", user_id)
