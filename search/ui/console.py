"""The one output layer for people: rich consoles for results (stdout) and problems (stderr)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()
errors = Console(stderr=True)


def report_error(message: str, label: str = "error") -> None:
    """One line on stderr, never a traceback."""
    style = "bold red" if label == "error" else "yellow"
    errors.print(f"[{style}]{label}:[/] {message}", highlight=False, soft_wrap=True, markup=True)


def print_json(console: Console, data: object) -> None:
    """JSON on stdout, unwrapped and uncoloured, whatever the terminal's width."""
    console.out(json.dumps(data, indent=2), highlight=False)


def epoch_progress(console: Console) -> Progress:
    """A progress bar counted in epochs, for long training outside a study (export, baselines)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)
