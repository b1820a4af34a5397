"""Every page: a title, one h1, labelled fields, a skip link first in the focus order,
readable banner contrast, UTF-8; and the fonts to draw Japanese and Korean."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.node.conftest import RunningNode
from tests.web.conftest import Opener, create_by_api, shot, sign_in, unique

UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.name || e.id)"""

CONTRAST = """() => {
  const lum = c => {
    const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(v => {
      v = v / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  return [...document.querySelectorAll('.banner, .chip, button')].map(e => {
    const s = getComputedStyle(e);
    const [a, b] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x);
    return [e.textContent.trim().slice(0, 40), (a + 0.05) / (b + 0.05)];
  });
}"""


def check_page(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, path
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert page.title().endswith("· gsoia JPN"), path
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").count() == 1, path
    assert page.evaluate(UNLABELLED) == [], path
    for text, ratio in page.evaluate(CONTRAST):
        assert ratio >= 4.5, (path, text, ratio)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content", path
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main", path


@pytest.fixture(scope="module")
def officer(browser: Browser, site: RunningNode) -> Iterator[tuple[Page, str]]:
    """One officer's page for every check, and an item to look at."""
    label = {"originator": "JPN", "classification": "KIMITSU", "releasable_to": ["CAN"]}
    item = create_by_api(site, "jpn-officer", unique("Accessible 機密"), label)
    context = browser.new_context(base_url=site.url, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, site.tokens["jpn-officer"])
    yield page, item
    context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/web/items",
        "/web/items/new",
        "/web/items/{item}",
        "/web/incidents",
        "/web/audit",
        "/web/consent-requests",
        "/web/outbox",
        "/web/items/{item}/release",
        "/web/items/{item}/release?to=CAN",
        "/web/items/{item}/release?to=USA",
        "/web/agreements",
        "/web/agreements/JPN-CAN",
    ],
)
def test_every_page_is_labelled_and_keyboard_ready(officer: tuple[Page, str], path: str) -> None:
    page, item = officer
    check_page(page, path.format(item=item))


def test_the_sign_in_page_is_labelled(open_as: Opener) -> None:
    page = open_as(None)
    check_page(page, "/web/sign-in")
    shot(page, "sign-in")


def test_fonts_for_japanese_and_korean_are_installed() -> None:
    for lang in ("ja", "ko"):
        fonts = subprocess.run(
            ["fc-list", f":lang={lang}", "family"], capture_output=True, text=True, check=True
        )
        assert fonts.stdout.strip(), f"no font for {lang}: install fonts-noto-cjk"
