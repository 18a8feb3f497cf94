"""The one output layer for people: rich consoles for results (stdout) and problems (stderr)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console

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

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)
