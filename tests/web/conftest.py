"""Browser tests of the web pages: Playwright driving Debian's Chromium against a real
``gsoia serve`` process (SQLite). One node serves the whole session (starting one takes
seconds); every test opens its own browser context and uses its own item titles. Every
context opened by ``open_as`` or ``open_on`` is watched (``ConsoleWatch``): a console error
or a script error on any of its pages fails the test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from gsoia.node.users import Role
from tests import loopback
from tests.node.conftest import *  # noqa: F403 - the node fixtures (jpn, ...) for web tests
from tests.node.conftest import Database, RunningNode, make_node

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"

USERS: dict[str, dict[str, Any]] = {
    "jpn-analyst": {"nation": "JPN", "clearance": "KIMITSU", "need_to_know": ["maritime"]},
    "jpn-officer": {"nation": "JPN", "clearance": "KIMITSU", "role": Role.OFFICER},
    "jpn-junior": {"nation": "JPN", "clearance": "HI"},
    "jpn-admin": {"nation": "JPN", "clearance": "GOKUHI", "role": Role.ADMIN},
    "can-analyst": {"nation": "CAN", "clearance": "S", "need_to_know": ["maritime"]},
    "usa-analyst": {"nation": "USA", "clearance": "TS"},
}


@pytest.fixture  # type: ignore[no-redef] # overrides the node tests' fixture
def database() -> Database:
    """Browser tests run on SQLite only (the store is tested on both databases elsewhere)."""
    return Database("sqlite", None)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A Japanese node serving the web pages, with analysts and an officer."""
    node = make_node(tmp_path_factory.mktemp("web"), Database("sqlite", None))
    for user_id, attributes in USERS.items():
        node.add_user(user_id, **attributes)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


Opener = Callable[..., Page]

# Chromium's line for a page or request the server refused (a 403 page, a form answered
# 422): the refusal a test asks for, not an error of the page
REFUSED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
# what htmx logs when a newer preview replaces one still on its way (hx-sync: by design)
REPLACED_PREVIEW = frozenset(
    f"htmx:{event}, [object HTMLElement]" for event in ("afterRequest", "sendAbort")
)

WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 392).slice(0, 6)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
"""The first elements reaching past a phone's width (what to fix when the page is wider)."""


# axe-core from the ``axe-playwright-python`` test dependency, evaluated in the page through
# the DevTools protocol (which the page's CSP does not govern)
AXE = files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")
SERIOUS = frozenset({"serious", "critical"})
# with axe's experimental check that an accessible name starts with the visible text
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    resultTypes: ['violations'],
    rules: {'label-content-name-mismatch': {enabled: true}}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
}"""


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page shown."""
    page.evaluate(AXE)
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in SERIOUS]


class ConsoleWatch:
    """Every console error and script error of the contexts watched."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda e: self.errors.append(f"script error: {e.error}"))

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type != "error" or REFUSED_LOAD.match(text) or text in REPLACED_PREVIEW:
            return
        self.errors.append(f"{message.page.url if message.page else ''}: {text}")


@pytest.fixture
def console() -> Iterator[ConsoleWatch]:
    """The watch over the test's browser contexts: the test fails on any error seen."""
    watch = ConsoleWatch()
    yield watch
    assert watch.errors == [], watch.errors


@pytest.fixture(scope="session")
def signed_in_states() -> dict[str, Any]:
    """Each user's cookies after signing in once through the form (a session holds until
    it is signed out or its user changed: the shared users are never changed)."""
    return {}


@pytest.fixture
def open_as(
    browser: Browser, site: RunningNode, signed_in_states: dict[str, Any], console: ConsoleWatch
) -> Iterator[Opener]:
    """``open_as(user_id, javascript=True)``: a page of a fresh context, signed in (by the
    form the first time, then with the cookie it gave), on the items page; ``None``: not
    signed in, on a blank page."""
    contexts: list[BrowserContext] = []

    def open_as(user_id: str | None, javascript: bool = True) -> Page:
        context = browser.new_context(
            base_url=site.url,
            java_script_enabled=javascript,
            viewport={"width": 1200, "height": 900},
            locale="en-GB",
            storage_state=signed_in_states.get(user_id or ""),
        )
        context.set_default_timeout(10_000)
        console.watch(context)
        contexts.append(context)
        page = context.new_page()
        if user_id is None:
            return page
        if user_id in signed_in_states:
            page.goto("/web/items")
        else:
            sign_in(page, site.tokens[user_id])
            signed_in_states[user_id] = context.storage_state()
        return page

    yield open_as
    for context in contexts:
        context.close()


NodeOpener = Callable[..., Page]


@pytest.fixture
def open_on(browser: Browser, console: ConsoleWatch) -> Iterator[NodeOpener]:
    """``open_on(node, user_id, javascript=True)``: a page of a fresh context on ``node``,
    signed in through the form as ``user_id``, on the items page (for tests of several
    nodes; ``open_as`` serves the session's single node)."""
    contexts: list[BrowserContext] = []

    def open_on(node: RunningNode, user_id: str, javascript: bool = True) -> Page:
        context = browser.new_context(
            base_url=node.url,
            java_script_enabled=javascript,
            viewport={"width": 1200, "height": 900},
            locale="en-GB",
        )
        context.set_default_timeout(10_000)
        console.watch(context)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, node.tokens[user_id])
        return page

    yield open_on
    for context in contexts:
        context.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("/web/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web/items")


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot under tests/artifacts/web/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def unique(title: str) -> str:
    return f"{title} {uuid.uuid4().hex[:6]}"


def create_by_api(
    site: RunningNode, user_id: str, title: str, label: dict[str, Any], content: str = "text"
) -> str:
    with site.client(user_id) as client:
        response = client.post(
            "/api/v1/items", json={"label": label, "title": title, "content": content}
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def session_client(site: RunningNode, page: Page) -> httpx.Client:
    """An HTTP client carrying the browser page's cookies (to post forms by hand)."""
    cookies = httpx.Cookies()
    for cookie in page.context.cookies():
        cookies.set(cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"])
    return loopback.client(base_url=site.url, cookies=cookies, timeout=30, follow_redirects=False)


def visit(page: Page, path: str) -> int:
    """Go to ``path``; the HTTP status of the page."""
    response = page.goto(path)
    assert response is not None
    return response.status
