"""Is a database an fmnist-search store? Asked before a command that only reads opens it.

Optuna's RDB storage creates its tables in whatever database it is given, and the project's own
tables are created on first use too: a ``status`` or ``dashboard`` pointed at another
application's database would add 13 tables to it. Commands that only read therefore look first,
without writing a byte (SQLite is opened read-only), and refuse a database without Optuna's
tables in one line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage.engine import StorageError, read_only_folder_hint, redact, storage_errors

# Tables every Optuna RDB store has, whatever its schema version.
OPTUNA_TABLES = ("studies", "trials", "version_info")
PROJECT_TABLE_PREFIX = "fmnist_"  # storage/budget.py, storage/exports.py


def require_studies(url: str) -> None:
    """Raise StorageError unless the database at ``url`` already holds Optuna's tables; write nothing."""
    tables = _table_names(url)
    missing = [name for name in OPTUNA_TABLES if name not in tables]
    if missing:
        raise StorageError(
            f"{redact(url)} is not an fmnist-search store (it has no Optuna table {missing[0]!r}); "
            "give the store that `fmnist-search start` wrote to"
        )


def require_store(url: str) -> None:
    """Raise StorageError unless the database holds Optuna's tables or the project's own; write nothing.

    A store where only `baselines` ran has the project's tables and no Optuna ones.
    """
    tables = _table_names(url)
    if not set(OPTUNA_TABLES) <= tables and not any(name.startswith(PROJECT_TABLE_PREFIX) for name in tables):
        raise StorageError(
            f"{redact(url)} is not an fmnist-search store (it has neither Optuna's nor fmnist-search's tables); "
            "give the store that `fmnist-search start` or `baselines` wrote to"
        )


def _table_names(url: str) -> set[str]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_table_names(Path(parsed.database or ""))
    engine = sa.create_engine(url)
    try:
        with storage_errors(url):
            return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _sqlite_table_names(path: Path) -> set[str]:
    # mode=ro: no journal-mode change, no -wal file, no table; the project's engines would do all three.
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise StorageError(f"cannot read the store {path}: {error}{read_only_folder_hint(path, str(error))}") from error
    return {name for (name,) in rows}
