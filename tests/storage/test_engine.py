"""The SQLite store's engine settings and the one-line errors for bad or unreachable stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest

from storage import StorageError, default_url, open_storage, resolve_url
from storage.engine import SQLITE_BUSY_TIMEOUT_MS


def test_default_store_lives_under_fmnist_search_home(private_dirs: Path) -> None:
    assert default_url() == f"sqlite:///{private_dirs / 'store' / 'studies.db'}"
    storage = open_storage()
    optuna.create_study(storage=storage, study_name="s")
    assert (private_dirs / "store" / "studies.db").is_file()


def test_sqlite_connections_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    with storage.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == SQLITE_BUSY_TIMEOUT_MS
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    assert sqlite3.connect(tmp_path / "x.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    "url, message",
    [
        ("not a url", "invalid storage URL"),
        ("foo://bar/baz", "unknown database"),
        ("sqlite://", "in-memory"),
        ("sqlite:////nonexistent-dir/x.db", "does not exist"),
        ("postgresql+psycopg2://nobody@127.0.0.1:9/nothing", "failed"),
    ],
)
def test_bad_or_unreachable_store_is_one_line(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as caught:
        open_storage(url)
    assert "\n" not in str(caught.value)


def test_read_only_commands_do_not_create_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    with pytest.raises(StorageError, match="no store"):
        resolve_url(url, must_exist=True)
    assert not (tmp_path / "absent.db").exists()


def test_password_is_not_shown_in_errors() -> None:
    with pytest.raises(StorageError) as caught:
        open_storage("postgresql+psycopg2://user:s3cret@127.0.0.1:9/db")
    assert "s3cret" not in str(caught.value)


def test_bad_heartbeat_settings_are_one_line(monkeypatch) -> None:
    monkeypatch.setenv("FMNIST_GRACE_PERIOD", "soon")
    with pytest.raises(StorageError, match="FMNIST_GRACE_PERIOD must be a whole number"):
        open_storage()
    monkeypatch.setenv("FMNIST_GRACE_PERIOD", "5")
    monkeypatch.setenv("FMNIST_HEARTBEAT_INTERVAL", "10")
    with pytest.raises(StorageError, match="must be longer"):
        open_storage()
