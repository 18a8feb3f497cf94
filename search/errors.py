"""Every error a user can cause, in one hierarchy: the CLI catches ``FmnistSearchError`` and prints one line.

Each message says what was wrong and what was given; the cause (the OSError, the database
error...) is chained (``raise ... from error``) and shown under ``--verbose``. Code tells errors
apart by class, never by message text. Each class keeps the built-in base it always had
(ValueError or RuntimeError), so code that catches those still does.

This module imports nothing: spaces/ and storage/ take their error classes from here, and
spawned worker processes import it early.
"""

from __future__ import annotations


class FmnistSearchError(Exception):
    """Bad input, or a store, file or device that cannot be used: one line for the user."""


class SpaceError(FmnistSearchError, ValueError):
    """A search space (or the seed catalog) is malformed or impossible; the message names the key."""


class DataError(FmnistSearchError, RuntimeError):
    """The Fashion-MNIST files are missing, corrupt or cannot be fetched."""


class StorageError(FmnistSearchError, RuntimeError):
    """The store cannot be reached, opened or used; the message says which and why."""


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
