"""Every error a user can cause: the CLI catches ``USER_ERRORS`` and prints one line.

``FmnistSearchError`` is the base of the errors raised under search/. A search space's error
(``SpaceError``) and the store's (``StorageError``) are defined in spaces/ and storage/, which
import nothing from search/, and are re-exported here; ``USER_ERRORS`` holds all three, so
``except USER_ERRORS`` catches every error a user can cause. ``StorageError`` and ``USER_ERRORS``
are imported when first asked for: the storage package imports SQLAlchemy and Optuna.

Each message says what was wrong and what was given; the cause (the OSError, the database
error...) is chained (``raise ... from error``) and shown under ``--verbose``. Code tells errors
apart by class, never by message text. Each class keeps the built-in base it always had
(ValueError or RuntimeError), so code that catches those still does.

This module imports nothing heavy: spawned worker processes import it early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spaces.errors import SpaceError

if TYPE_CHECKING:
    from storage.errors import StorageError  # noqa: F401 - what __getattr__ returns, for type checkers


class FmnistSearchError(Exception):
    """Bad input, or a store, file or device that cannot be used: one line for the user."""


class DataError(FmnistSearchError, RuntimeError):
    """The Fashion-MNIST files are missing, corrupt or cannot be fetched."""


class StudyError(FmnistSearchError, RuntimeError):
    """A study was not made by fmnist-search, or conflicts with the given settings."""


class StudyNotFound(StudyError):
    """No study of that name in the store."""


class StudyNameError(FmnistSearchError, ValueError):
    """A study name outside the allowed character set."""


class EngineError(StudyError):
    """An option the chosen engine cannot honour."""


class WorkerError(FmnistSearchError, RuntimeError):
    """A worker stopped because its trials kept failing; the message carries the last reason."""


class DashboardError(FmnistSearchError, RuntimeError):
    """The dashboard cannot listen where it was told to (port taken, unknown host)."""


class ExportError(FmnistSearchError, RuntimeError):
    """An export or evaluation cannot be made: no such study or trial, a damaged config or model file."""


def __getattr__(name: str) -> Any:
    """``StorageError``, and ``USER_ERRORS``: what the CLI prints in one line (a caller may catch the same tuple)."""
    if name not in ("StorageError", "USER_ERRORS"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from storage.errors import StorageError

    return StorageError if name == "StorageError" else (FmnistSearchError, SpaceError, StorageError)
