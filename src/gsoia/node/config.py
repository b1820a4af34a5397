"""A node's configuration: its nation, database, catalogue and settings, in ``DIR/node.json``.

The data directory is private to the node's user (mode 0700): made so by ``gsoia init``,
and tightened to it whenever the node is opened.
"""

from __future__ import annotations

import json
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gsoia.errors import GsoiaError
from gsoia.store.database import sqlite_url

CONFIG_FILE = "node.json"
KEYS_DIR = "keys"
PRIVATE_DIRECTORY = 0o700


class ConfigError(GsoiaError):
    """The data directory is missing, not a node, or its configuration is invalid."""


def private_directory(data: Path) -> None:
    """Tighten the data directory to mode 0700 if it is more open; ``ConfigError`` if that
    cannot be done."""
    try:
        if stat.S_IMODE(data.stat().st_mode) & 0o077:
            data.chmod(PRIVATE_DIRECTORY)
    except OSError as e:
        raise ConfigError(f"{data}: cannot make the data directory private (0700): {e}") from e


@dataclass(frozen=True)
class NodeConfig:
    nation: str
    database: str
    """SQLAlchemy URL; by default SQLite in the data directory."""
    catalogue: str | None = None
    """A catalogue file; None: the bundled catalogue."""
    incident_deadline_hours: int = 24
    """Hours within which the originator must be told of a loss or compromise (Art. 17)."""
    visit_lead_days: int = 20
    """Days a request for a visit must come before its first day (an emergency may be
    sooner, with its reason), under an agreement ``visit_lead_days_by_agreement`` does not
    name."""
    visit_lead_days_by_agreement: dict[str, int] = field(default_factory=dict)
    """The lead time of visits under each agreement named (its id, ``JPN-CAN``), in days."""
    personal_retention_days: int = 30
    """Days after a visit (or an assurance's end) until its personal data is erased."""
    witness_interval_seconds: int = 300
    """A partner sent no ``head`` package for this long, busy or idle, is sent one: this
    node's head, and the heads it holds of its other partners (0: never)."""
    witnessing: bool = True
    """False: this node neither keeps its anchor, nor sends its head to partners, nor checks
    theirs. Only for measuring what witnessing costs: a node so set can be rolled back unseen."""

    def lead_days(self, agreement: str | None) -> int:
        """The lead time of a request for a visit under ``agreement`` (None: the default)."""
        return self.visit_lead_days_by_agreement.get(agreement or "", self.visit_lead_days)

    @staticmethod
    def default_database(data: Path) -> str:
        return sqlite_url(data.resolve() / "gsoia.db")

    def save(self, data: Path) -> None:
        path = data / CONFIG_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, data: Path) -> NodeConfig:
        path = data / CONFIG_FILE
        try:
            raw = json.loads(path.read_text("utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"{data}: not a gsoia node (no {CONFIG_FILE}; run gsoia init)") from e
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: cannot be read: {e}") from e
        try:
            config = cls(**raw)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from e
        if (
            not isinstance(config.incident_deadline_hours, int)
            or config.incident_deadline_hours < 1
        ):
            raise ConfigError(
                f"{path}: incident_deadline_hours must be a whole number of hours >= 1"
            )
        interval = config.witness_interval_seconds
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
            raise ConfigError(f"{path}: witness_interval_seconds must be a whole number >= 0")
        if not isinstance(config.witnessing, bool):
            raise ConfigError(f"{path}: witnessing must be true or false")
        for name in ("visit_lead_days", "personal_retention_days"):
            days = getattr(config, name)
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise ConfigError(f"{path}: {name} must be a whole number of days >= 0")
        leads = config.visit_lead_days_by_agreement
        if not isinstance(leads, dict) or not all(
            isinstance(days, int) and not isinstance(days, bool) and days >= 0
            for days in leads.values()
        ):
            raise ConfigError(
                f"{path}: visit_lead_days_by_agreement maps agreement ids to whole numbers of"
                " days >= 0"
            )
        return config
