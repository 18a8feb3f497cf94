"""Commands that only read never create tables: another application's database is refused in one line, untouched."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import StorageError, open_storage
from tests.search.cli_helpers import assert_one_line_error, invoke

ROOT = Path(__file__).resolve().parents[2]
READING_COMMANDS = [
    ("status",),
    ("status", "--study", "dense"),
    ("dashboard", "--port", "0"),
    ("export", "--study", "dense"),
    ("worker", "--study", "dense"),
    ("leaderboard",),
]


def _foreign_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO users (name) VALUES ('ada')")
    connection.close()
    return path


@pytest.mark.parametrize("command", READING_COMMANDS, ids=lambda c: " ".join(c))
def test_reading_commands_leave_a_foreign_sqlite_file_alone(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = _foreign_sqlite(tmp_path / "app.db")
    before = db.read_bytes()
    result = invoke(*command, "--storage", f"sqlite:///{db}")
    assert_one_line_error(result, "not an fmnist-search store")
    assert db.read_bytes() == before  # not even the journal mode changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal, -shm, artifacts


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("shopping list\n" * 100)
    assert_one_line_error(invoke("status", "--storage", f"sqlite:///{notes}"), str(notes))
    assert notes.read_text() == "shopping list\n" * 100


def test_a_foreign_postgresql_database_is_refused_untouched(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT)"))
    try:
        for command in READING_COMMANDS:
            assert_one_line_error(invoke(*command, "--storage", postgres_url), "not an fmnist-search store")
        assert sa.inspect(engine).get_table_names() == ["users"]
    finally:
        engine.dispose()


def test_open_storage_must_exist_needs_the_tables_and_writing_creates_them(tmp_path: Path) -> None:
    db = _foreign_sqlite(tmp_path / "app.db")
    with pytest.raises(StorageError, match="not an fmnist-search store"):
        open_storage(f"sqlite:///{db}", must_exist=True)
    open_storage(f"sqlite:///{tmp_path / 'new.db'}")  # a command that writes makes its store
    open_storage(f"sqlite:///{tmp_path / 'new.db'}", must_exist=True)


@pytest.fixture
def read_only_media(tmp_path: Path):
    """A real tmpfs holding one fmnist-search store, then remounted read-only (needs root; skipped elsewhere)."""
    mount = tmp_path / "media"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        # Made by a process that then exits: its last connection closes, and SQLite removes the
        # -wal and -shm files, as on a store copied to a backup disk.
        make = "from search.study.settings import start_or_resume as s; from storage import open_storage as o; "
        make += f"s(o('sqlite:///{mount / 'studies.db'}'), 'dense', space='dense')"
        subprocess.run([sys.executable, "-c", make], cwd=ROOT, check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("command", [("status",), ("status", "--study", "dense")], ids=" ".join)
def test_a_store_on_read_only_media_says_why_it_cannot_be_read(read_only_media: Path, command: tuple[str, ...]) -> None:
    assert sorted(p.name for p in read_only_media.iterdir()) == ["studies.db"]
    url = f"sqlite:///{read_only_media / 'studies.db'}"
    run = subprocess.run([sys.executable, "-m", "search", *command, "--storage", url],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert "is read-only" in lines[0] and "studies.db-shm" in lines[0] and "copy the file" in lines[0]
