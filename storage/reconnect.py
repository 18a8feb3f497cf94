"""Retry a database call while the database is away (a PostgreSQL restart, a network blip).

Pooled connections are pre-pinged, so once the server is back a retried call gets a fresh
connection. Only connection failures are retried; any other error is raised at once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from sqlalchemy.exc import InterfaceError, OperationalError

RECONNECT_ATTEMPTS = 8  # 0.5 + 1 + 2 + 4 + 8 + 8 + 8 s: rides out a database restart of about half a minute
_CONNECTION_ERRORS = (OperationalError, InterfaceError)

F = TypeVar("F", bound=Callable[..., Any])

# Retrying calls call one another (create_new_trial -> _create_new_trial); only the outermost
# call retries, so attempts do not multiply.
_inside_retry = threading.local()


def is_connection_error(error: BaseException) -> bool:
    """True for a lost or refused connection, also when Optuna wrapped it in StorageInternalError."""
    cause = error.__cause__ if isinstance(error, optuna.exceptions.StorageInternalError) else error
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
            for attempt in range(RECONNECT_ATTEMPTS):
                try:
                    return function(*args, **kwargs)
                except (optuna.exceptions.StorageInternalError, *_CONNECTION_ERRORS) as error:
                    if attempt == RECONNECT_ATTEMPTS - 1 or not is_connection_error(error):
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 8.0)
        finally:
            _inside_retry.active = False
        raise AssertionError("unreachable")  # the loop returns or raises

    return wrapper  # type: ignore[return-value]
