"""A listing's page as JSON: each listed view encoded once (msgspec) and kept by the
listing's key for it (``ViewKey``: the item in one row version, under one ruling), so
a page of known items is put together, not encoded anew; a page given again as it was
(``Page.serial``) is given its views as put together before."""

from __future__ import annotations

from typing import Any

import msgspec

from gsoia.node.listing import Page, Shown, ViewKey
from gsoia.node.recent import Recent

KEPT = 20_000
"""How many encoded views are kept."""
PAGES = 256
"""How many pages' views are kept, put together."""


class ListingJson:
    """The JSON of listed views, by their ``ViewKey``; of pages, by their number."""

    def __init__(self, size: int = KEPT) -> None:
        self._views: Recent[ViewKey, msgspec.Raw] = Recent(size)
        self._pages: Recent[int, list[dict[str, Any] | msgspec.Raw]] = Recent(PAGES)

    def page(self, page: Page) -> dict[str, Any]:
        """The answer of a listing, its items given as their JSON where known."""
        views = self._pages.get(page.serial) if page.serial else None
        if views is None:
            views = [self._view(shown) for shown in page.shown]
            if page.serial:
                self._pages.put(page.serial, views)
        return {"items": views, "total": page.total, "next": page.next}

    def _view(self, shown: Shown) -> dict[str, Any] | msgspec.Raw:
        key = shown.key()
        if key is None:
            return shown.view()
        view = self._views.get(key)
        if view is None:
            view = msgspec.Raw(msgspec.json.encode(shown.view()))
            self._views.put(key, view)
        return view
