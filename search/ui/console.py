"""The one output layer for people: rich consoles for results (stdout) and problems (stderr)."""

from __future__ import annotations

from rich.console import Console

console = Console()
errors = Console(stderr=True)


def report_error(message: str, label: str = "error") -> None:
    """One line on stderr, never a traceback."""
    style = "bold red" if label == "error" else "yellow"
    errors.print(f"[{style}]{label}:[/] {message}", highlight=False, soft_wrap=True, markup=True)
