"""The one output layer for people: rich consoles for results (stdout) and problems (stderr)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

from search import notices

if TYPE_CHECKING:
    from rich.progress import Progress

# The log formats of a running study (search/ui/display.py), here so that the CLI needs no Optuna.
LOG_FORMATS = ("auto", "text", "json")

console = Console()
# Off a terminal (a pipe, nohup, docker compose logs) nothing wraps lines for a reader, and a
# command or path broken at 80 columns cannot be copied: messages stay one line each. Tables
# still fit the width (search/ui/tables.py). On a terminal rich wraps at its width, as the live view needs.
console.soft_wrap = not console.is_terminal
errors = Console(stderr=True)


def report_error(message: str, label: str = "error") -> None:
    """One line on stderr, never a traceback."""
    style = "bold red" if label == "error" else "yellow"
    errors.print(f"[{style}]{label}:[/] {message}", highlight=False, soft_wrap=True, markup=True)


class _ConsoleNotices(logging.Handler):
    """The core's warnings and errors (search/notices.py) as ``report_error`` prints them."""

    def emit(self, record: logging.LogRecord) -> None:
        report_error(record.getMessage(), label="error" if record.levelno >= logging.ERROR else "warning")


def show_notices(replace: bool = True) -> None:
    """Show the core's notices on the error console; ``replace=False`` keeps a handler a caller installed."""
    if replace or not notices.LOGGER.handlers:
        notices.show_with(_ConsoleNotices())


@contextmanager
def silenced(quiet: bool = True) -> Iterator[None]:
    """Nothing reaches stdout or stderr through this layer inside the block (``quiet=False``: no
    change): the consoles print nothing and the core's notices go nowhere. For callers that asked
    for silence (the Python API's ``quiet=True``); what they are told is what the call returns."""
    if not quiet:
        yield
        return
    saved = (console.quiet, errors.quiet, notices.LOGGER.handlers[:], notices.LOGGER.propagate)
    console.quiet = errors.quiet = True
    notices.LOGGER.handlers[:] = [logging.NullHandler()]
    notices.LOGGER.propagate = False
    try:
        yield
    finally:
        console.quiet, errors.quiet = saved[0], saved[1]
        notices.LOGGER.handlers[:], notices.LOGGER.propagate = saved[2], saved[3]


def percent(fraction: float | None) -> str:
    """An accuracy as people read it everywhere: ``87.66``, the ``%`` in the heading or after it.

    JSON for scripts keeps the stored fractions."""
    return "—" if fraction is None else f"{100 * fraction:.2f}"


def print_json(console: Console, data: object) -> None:
    """JSON on stdout, unwrapped and uncoloured, whatever the terminal's width."""
    console.out(json.dumps(data, indent=2), highlight=False)


def epoch_progress(console: Console) -> Progress:
    """A progress bar counted in epochs, for long training outside a study (export, baselines)."""
    # Imported here: every command, --version too, imports this module, and few need a bar.
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True)
