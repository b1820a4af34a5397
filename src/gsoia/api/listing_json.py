"""A listing's page as JSON: each listed view encoded once (msgspec) and kept by the
listing's key for it (``ViewKey``: the item in one row version, under one ruling), so
a page of known items is put together, not encoded anew."""

from __future__ import annotations

from typing import Any

import msgspec

from gsoia.node.listing import Page, ViewKey
from gsoia.node.recent import Recent

KEPT = 20_000
"""How many encoded views are kept."""


class ListingJson:
    """The JSON of listed views, by their ``ViewKey`` (PostgreSQL: SQLite's rows carry no
    version, their views are encoded with the answer)."""

    def __init__(self, size: int = KEPT) -> None:
        self._views: Recent[ViewKey, msgspec.Raw] = Recent(size)

    def page(self, page: Page) -> dict[str, Any]:
        """The answer of a listing, its items given as their JSON where known."""
        views: list[dict[str, Any] | msgspec.Raw] = []
        for shown in page.shown:
            key = shown.key()
            if key is None:
                views.append(shown.view())
                continue
            view = self._views.get(key)
            if view is None:
                view = msgspec.Raw(msgspec.json.encode(shown.view()))
                self._views.put(key, view)
            views.append(view)
        return {"items": views, "total": page.total, "next": page.next}
