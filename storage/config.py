"""The store's settings from the environment: where the default store and trial files live, and
how patient the store is with dead workers and outages.

The storage layer reads the environment here and nowhere else; ``search.settings.Settings``
carries these values beside the rest (the table of every variable is in docs/configuration.md).
Read on each call (``store_settings()``: cheap, and a worker sets its environment late); a bad
value is one line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StorageError

HEARTBEAT_INTERVAL = 20  # seconds between a running trial's heartbeats
GRACE_PERIOD = 90  # seconds without a heartbeat after which a trial's worker counts as dead
OUTAGE_SECONDS = 300  # seconds a store call rides out an outage (a database restart) before it fails


@dataclass(frozen=True)
class StoreSettings:
    search_home: Path  # FMNIST_SEARCH_HOME: the default SQLite store and trial files
    artifacts: Path | None  # FMNIST_ARTIFACTS: the trial files' folder, when set
    heartbeat_interval: int  # FMNIST_HEARTBEAT_INTERVAL
    grace_period: int  # FMNIST_GRACE_PERIOD
    outage_seconds: int  # FMNIST_OUTAGE_SECONDS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StoreSettings:
        interval = _whole_seconds(environ, "FMNIST_HEARTBEAT_INTERVAL", HEARTBEAT_INTERVAL)
        grace = _whole_seconds(environ, "FMNIST_GRACE_PERIOD", GRACE_PERIOD)
        if grace <= interval:
            raise StorageError(
                f"FMNIST_GRACE_PERIOD ({grace}) must be longer than FMNIST_HEARTBEAT_INTERVAL ({interval})"
            )
        artifacts = environ.get("FMNIST_ARTIFACTS")
        return cls(
            search_home=_search_home(environ),
            artifacts=Path(artifacts) if artifacts else None,
            heartbeat_interval=interval,
            grace_period=grace,
            outage_seconds=_whole_seconds(environ, "FMNIST_OUTAGE_SECONDS", OUTAGE_SECONDS),
        )


def store_settings() -> StoreSettings:
    """This process's store settings, read from its environment now (tests and workers change it)."""
    return StoreSettings.from_environ(os.environ)


def _search_home(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("FMNIST_SEARCH_HOME")
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fmnist-search"


def _whole_seconds(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip() or str(default)
    if not text.isdigit() or int(text) < 1:
        raise StorageError(f"{name} must be a whole number of seconds (at least 1), but got {name}={text!r}")
    return int(text)
