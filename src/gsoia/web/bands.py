"""The colour of a marking banner, like a classified cover sheet.

A level's band is counted from the top of its policy's scale: the highest level takes the
TOP SECRET band (orange, as the US SF-703 cover sheet), the next step SECRET (red, SF-704),
the next CONFIDENTIAL (blue, SF-705), every lower step RESTRICTED (green). Neighbouring
levels that agreements hold equal and none tells apart are one step and share a band:
Japan's 特定秘密 and 極秘 are SECRET in every agreement, so both are red; 秘 shares a row
with them only where a partner has no CONFIDENTIAL (France), and the US agreement tells it
apart, so it is blue. A banner is coloured by the
level the reader protects the item at (the first level of its marking).

Every band's text colour has a contrast ratio of at least 6.5:1 on its background
(WCAG 2.1 AAA for the banner's bold text): orange #f7941d on black text 9.2:1, red #b3001b
7.2:1, blue #0b3d91 10.0:1, green #1e6b34 6.6:1, each with white text.
"""

from __future__ import annotations

from enum import StrEnum

from gsoia.catalogue.model import Catalogue


class Band(StrEnum):
    TOP_SECRET = "top-secret"  # noqa: S105 - a colour band, not a password
    SECRET = "secret"  # noqa: S105
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ")


_BY_STEP = (Band.TOP_SECRET, Band.SECRET, Band.CONFIDENTIAL)


def level_bands(catalogue: Catalogue) -> dict[tuple[str, str], Band]:
    """The band of every ``(policy, level id)`` of the catalogue."""
    found: dict[tuple[str, str], Band] = {}
    for policy_id, policy in catalogue.policies.items():
        row_of = [
            {level: i for i, row in enumerate(a.rows()) for level in row.get(policy_id, [])}
            for a in catalogue.agreements
            if policy_id in a.parties
        ]
        step = -1
        above: str | None = None
        for level in reversed(policy.levels):
            if above is None or not _one_step(row_of, above, level.id):
                step += 1
            found[(policy_id, level.id)] = _BY_STEP[step] if step < 3 else Band.RESTRICTED
            above = level.id
    return found


def _one_step(row_of: list[dict[str, int]], a: str, b: str) -> bool:
    """Some agreement holds ``a`` and ``b`` equal, and none tells them apart."""
    both = [rows for rows in row_of if a in rows and b in rows]
    return bool(both) and all(rows[a] == rows[b] for rows in both)
