"""The SQL store: where it lives, how its engine is set up, and one error type for its failures.

The default store is the SQLite file ``$FMNIST_SEARCH_HOME/studies.db`` (default
``$XDG_DATA_HOME/fmnist-search``, else ``~/.local/share/fmnist-search``). Any SQLAlchemy URL
that Optuna supports can be given instead (``postgresql+psycopg2://...``).
SQLite connections are put in WAL mode with a busy timeout, so that many worker processes
and a dashboard can read and write one file at once.
"""

from __future__ import annotations

import atexit
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from storage.config import store_settings
from storage.errors import StorageError

SQLITE_BUSY_TIMEOUT_MS = 60_000
# A bare postgresql:// means psycopg (3) to SQLAlchemy 2.1; the project installs psycopg2.
POSTGRESQL_DRIVER = "postgresql+psycopg2"
# user:password@ after the scheme, for text that is not a URL SQLAlchemy can parse.
_CREDENTIALS = re.compile(r"(//[^:/@]*:).*@")
_PASSWORD_QUERY_KEYS = ("password", "passwd", "pwd")


def home_dir() -> Path:
    """``FMNIST_SEARCH_HOME``, else ``$XDG_DATA_HOME/fmnist-search`` (storage/config.py)."""
    return store_settings().search_home


def default_url() -> str:
    return f"sqlite:///{home_dir() / 'studies.db'}"


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Every new SQLite connection: wait for locks instead of failing, and use WAL journaling."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, and far fewer fsyncs
    cursor.close()


def install_sqlite_pragmas() -> None:
    """Register the connect hook on all SQLAlchemy engines (idempotent; Optuna builds its own engine)."""
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)


_engines: dict[tuple[int, str], Engine] = {}
_tables_made: set[tuple[int, str, int]] = set()
_engines_lock = threading.Lock()


def shared_engine(url: str) -> Engine:
    """This process's one SQLAlchemy engine for ``url`` (pre-pinged pool, SQLite pragmas).

    Keyed by pid too: a forked child must not reuse its parent's pooled connections, so it
    builds its own. Disposed when the process exits.
    """
    install_sqlite_pragmas()
    key = (os.getpid(), url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_engine(url, pool_pre_ping=True)
        return engine


# One PostgreSQL advisory lock ("fmns") around every table creation in a store.
SCHEMA_LOCK_KEY = 0x666D6E73


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Hold other processes' table creation off while this one creates tables.

    PostgreSQL's catalog races on concurrent CREATE TABLE of the same name: the loser fails with
    'duplicate key value violates unique constraint "pg_type_typname_nsp_index"' even though
    both checked first. A session-level advisory lock serialises them. SQLite serialises writers
    itself, so there it is a no-op.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})


def ensure_tables(engine: Engine, metadata: MetaData) -> None:
    """Create ``metadata``'s tables once per engine and process; a concurrent creator elsewhere is fine."""
    key = (os.getpid(), id(engine), id(metadata))
    if key in _tables_made:
        return
    from sqlalchemy import exc, inspect

    try:
        with schema_lock(engine):
            metadata.create_all(engine, checkfirst=True)
    except (exc.OperationalError, exc.ProgrammingError, exc.IntegrityError):
        # Another process created them a moment ago (PostgreSQL's catalog races on CREATE TABLE).
        if not all(inspect(engine).has_table(name) for name in metadata.tables):
            raise
    _tables_made.add(key)


def dispose_engines() -> None:
    """Close this process's pooled connections (at exit; tests that delete their store)."""
    with _engines_lock:
        mine = [key for key in _engines if key[0] == os.getpid()]
        for key in mine:
            _engines.pop(key).dispose()
        _tables_made.difference_update({key for key in _tables_made if key[0] == os.getpid()})


atexit.register(dispose_engines)


def check_url(url: str, must_exist: bool = False) -> str:
    """Validate a storage URL before anything touches it; return it, with the driver made explicit.

    ``postgresql://`` becomes ``postgresql+psycopg2://`` (the driver the project installs).
    ``must_exist`` refuses a SQLite file that is not there yet, for commands that only read.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StorageError(
            f"invalid storage URL {redact(url)!r}: expected e.g. sqlite:///path/to/studies.db or postgresql://user@host/db"
        ) from error
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=POSTGRESQL_DRIVER)
        url = parsed.render_as_string(hide_password=False)
    try:
        parsed.get_dialect()
    except NoSuchModuleError as error:
        raise StorageError(
            f"unsupported storage URL {redact(url)!r}: unknown database {parsed.drivername!r}"
        ) from error
    except ImportError as error:
        raise StorageError(f"storage URL {redact(url)!r} needs a driver that is not installed: {error}") from error
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise StorageError(
                f"storage URL {redact(url)!r}: an in-memory SQLite store cannot be shared; give a file path"
            )
        path = Path(database)
        if must_exist and path.is_dir():
            raise StorageError(f"storage URL {redact(url)!r}: {path} is a folder, not a SQLite file")
        if must_exist and not path.is_file():
            raise StorageError(f"no store at {path} (nothing has been run against it yet; start a study first)")
        if not path.parent.is_dir():
            raise StorageError(f"storage URL {redact(url)!r}: directory {path.parent} does not exist")
    return url


def resolve_url(url: str | None, must_exist: bool = False) -> str:
    """The given URL, or the default SQLite store (whose directory is created on demand)."""
    if url is None:
        url = default_url()
        if not must_exist:
            home_dir().mkdir(parents=True, exist_ok=True)
    return check_url(url, must_exist)


def describe_error(error: BaseException) -> str:
    """A one-line description of a database error, without SQLAlchemy's multi-line boilerplate."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


@contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn any database failure inside the block into a StorageError naming the store."""
    try:
        yield
    except SQLAlchemyError as error:
        why = _without_password(describe_error(error), url)
        try:
            parsed = make_url(url)
        except ArgumentError:
            parsed = None
        if parsed is not None and parsed.get_backend_name() == "sqlite":
            why += read_only_folder_hint(Path(parsed.database or ""), str(error))
        raise StorageError(f"storage {redact(url)} failed: {why}") from error


def read_only_folder_hint(path: Path, message: str) -> str:
    """Why SQLite could not open a file that is there: its folder is read-only (a mounted backup, a CD)."""
    if "unable to open database file" not in message or not path.is_file() or os.access(path.parent, os.W_OK):
        return ""
    return (
        f" (the folder {path.parent} is read-only, and a store in WAL mode writes {path.name}-shm beside "
        "the file even to read it: copy the file to a writable folder and give that path)"
    )


def redact(url: str) -> str:
    """The URL with any password hidden (``user:***@``, ``?password=***``).

    The one way a storage URL is shown or logged.

    Text that does not parse as a URL still loses whatever sits between ``user:`` and the last ``@``.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return _CREDENTIALS.sub(r"\1***@", url)
    hidden = {key: "***" for key in parsed.query if key.lower() in _PASSWORD_QUERY_KEYS}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")  # the query's *** comes out escaped


def _without_password(text: str, url: str) -> str:
    """A driver's message may quote its connection string; keep the password out of it."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return text
    return text.replace(str(password), "***") if password else text
