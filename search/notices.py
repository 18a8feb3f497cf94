"""What the core tells a person (a warning, an error) without knowing where it will be shown.

Engines, results and the study layer call ``warn`` or ``error``; they never import the UI. The
messages go to the ``fmnist_search`` logger. Until something else is installed, ``show_on_stderr``
prints them as plain ``warning: ...`` lines (spawned worker processes call it first); the UI
replaces that handler with its own (coloured on a terminal, search/ui/console.py), and a Python
caller may attach any logging handler it likes.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("fmnist_search")


class _PlainLines(logging.Handler):
    """``warning: message`` on stderr, one line, flushed at once."""

    def emit(self, record: logging.LogRecord) -> None:
        label = "error" if record.levelno >= logging.ERROR else "warning"
        print(f"{label}: {record.getMessage()}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """Something went wrong but the run goes on (a trial failed, a plot was not saved)."""
    LOGGER.warning(message)


def error(message: str) -> None:
    """Something the person must act on; the caller decides whether to stop."""
    LOGGER.error(message)


def show_with(handler: logging.Handler) -> None:
    """Show the notices through ``handler`` alone (the UI's, or ``_PlainLines``)."""
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False  # not twice through the root logger's handlers


def show_on_stderr() -> None:
    """Plain lines on stderr, unless a handler is installed already."""
    if not LOGGER.handlers:
        show_with(_PlainLines())
