"""Exports and seed baselines, in the project's own tables beside the studies.

An evaluation's figures live in its export folder (``report.json``), where the leaderboard reads them.

Optuna's schema has no place for what happens after a search, so, like the budget table,
these live in the same database under ``fmnist_`` names and are created on first use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storage.engine import ensure_tables, shared_engine, storage_errors

metadata = sa.MetaData()
exports = sa.Table(
    "fmnist_exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study_name", sa.String(512), nullable=True),  # NULL: a config written by hand
    sa.Column("trial_number", sa.Integer, nullable=True),
    sa.Column("config_hash", sa.String(64), nullable=False, index=True),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("files", sa.Text, nullable=False),  # JSON list of file names in the folder
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

baselines = sa.Table(
    "fmnist_baselines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("seed_id", sa.String(128), nullable=False, index=True),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("epochs_run", sa.Integer, nullable=False),
    sa.Column("epochs_cap", sa.Integer, nullable=True),  # NULL: the seed's own epoch count
    sa.Column("validation_accuracy", sa.Float, nullable=False),
    sa.Column("test_accuracy", sa.Float, nullable=False),
    sa.Column("param_count", sa.Integer, nullable=False),
    sa.Column("train_seconds", sa.Float, nullable=False),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class ExportLog:
    """The export and baseline records of the store at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = shared_engine(url)
        with storage_errors(url):
            ensure_tables(self.engine, metadata)

    def record_export(
        self, study_name: str | None, trial_number: int | None, config_hash: str, folder: str, files: list[str]
    ) -> None:
        """One row per export run."""
        self._insert(
            exports,
            study_name=study_name,
            trial_number=trial_number,
            config_hash=config_hash,
            folder=folder,
            files=json.dumps(files),
        )

    def record_baseline(self, **values: Any) -> None:
        """One row per trained seed model (columns of ``fmnist_baselines``)."""
        self._insert(baselines, **values)

    def baselines(self) -> list[dict[str, Any]]:
        """Every seed baseline run, oldest first."""
        return self._rows(baselines)

    def exports(self) -> list[dict[str, Any]]:
        """Every export, oldest first, with ``files`` as a list."""
        rows = self._rows(exports)
        return [{**row, "files": json.loads(row["files"])} for row in rows]

    def close(self) -> None:
        """Nothing to close: the engine is the process's shared one (storage/engine.py disposes it)."""

    def _insert(self, table: sa.Table, **values: Any) -> None:
        with storage_errors(self.url), self.engine.begin() as connection:
            connection.execute(table.insert().values(created_at=datetime.now(UTC), **values))

    def _rows(self, table: sa.Table) -> list[dict[str, Any]]:
        with storage_errors(self.url), self.engine.connect() as connection:
            result = connection.execute(sa.select(table).order_by(table.c.id))
            return [dict(row._mapping) for row in result]
