"""Retry a database call while the database is away (a PostgreSQL restart, a network blip, an outage).

Pooled connections are pre-pinged, so once the server is back a retried call gets a fresh
connection. Only connection failures are retried; any other error is raised at once. A call
keeps retrying, with backoff, until the outage has lasted ``FMNIST_OUTAGE_SECONDS`` (default
300); then it raises. The process says so once per outage, in one line, whichever of its
threads (the trial's, the heartbeat's) notices first, and remembers when the store came back:
heartbeats could not be written while it was away, so for a moment after it returns every
running trial looks stale (storage/optuna_store.py waits before judging them).
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

from storage.config import OUTAGE_SECONDS, store_settings
from storage.errors import StorageError

MAX_DELAY_SECONDS = 4.0  # so that a worker notices within seconds that the store is back
# PendingRollbackError: a session whose connection broke mid-transaction, rolled back by the next try.
_CONNECTION_ERRORS = (OperationalError, InterfaceError, PendingRollbackError)

F = TypeVar("F", bound=Callable[..., Any])

# Retrying calls call one another (create_new_trial -> _create_new_trial); only the outermost
# call retries, so attempts do not multiply.
_inside_retry = threading.local()


class _Outage:
    """This process's view of the store's availability, shared by its threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: float | None = None  # monotonic time the current outage was first noticed
        self.ended_at = -math.inf  # monotonic time the last one ended

    def failed(self, error: BaseException) -> float:
        """Note a failed call; return when the outage began. Says so once per outage."""
        with self.lock:
            if self.since is None:
                self.since = time.monotonic()
                print(f"warning: the store is unreachable ({_short(error)}); retrying for up to {outage_seconds()} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            return self.since

    def succeeded(self) -> None:
        if self.since is not None:
            with self.lock:
                if self.since is not None:
                    self.since, self.ended_at = None, time.monotonic()


_outage = _Outage()


def outage_seconds() -> int:
    """How long a call rides out an outage before it fails (``FMNIST_OUTAGE_SECONDS``, storage/config.py).

    Asked in the middle of an outage, so a bad setting (refused at start-up) means the default here.
    """
    try:
        return store_settings().outage_seconds
    except StorageError:
        return OUTAGE_SECONDS


def seconds_since_outage() -> float:
    """Seconds since this process last saw the store come back (infinite if it never went away)."""
    return time.monotonic() - _outage.ended_at


def is_connection_error(error: BaseException) -> bool:
    """True for a lost or refused connection, also when Optuna wrapped it in StorageInternalError.

    Besides the driver's OperationalError and InterfaceError, any DBAPI error that SQLAlchemy's
    dialect recognised as a disconnect ("server closed the connection unexpectedly" during a
    commit, when a server shuts down) counts.
    """
    cause = error.__cause__ if isinstance(error, optuna.exceptions.StorageInternalError) else error
    if isinstance(cause, DBAPIError) and cause.connection_invalidated:
        return True
    return isinstance(cause, _CONNECTION_ERRORS)


def retry_on_disconnect(function: F) -> F:
    """``function`` retried with exponential backoff while it fails for want of a connection."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_inside_retry, "active", False):
            return function(*args, **kwargs)
        delay = 0.5
        _inside_retry.active = True
        try:
            while True:
                try:
                    result = function(*args, **kwargs)
                except (optuna.exceptions.StorageInternalError, DBAPIError, PendingRollbackError) as error:
                    if not is_connection_error(error):
                        raise
                    if time.monotonic() - _outage.failed(error) > outage_seconds():
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, MAX_DELAY_SECONDS)
                    continue
                _outage.succeeded()
                return result
        finally:
            _inside_retry.active = False

    return wrapper  # type: ignore[return-value]


def _short(error: BaseException) -> str:
    cause = error.__cause__ if isinstance(error, optuna.exceptions.StorageInternalError) else error
    cause = getattr(cause, "orig", None) or cause  # SQLAlchemy's wrapper: the driver's own error
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else type(cause).__name__
    return text if len(text) <= 100 else text[:97] + "..."
