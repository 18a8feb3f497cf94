"""The ``fmnist-search`` command line (Typer): each command parses its options and calls one function.

``app`` holds what every command shares (the one-line errors, the common options); the commands
register on it from ``study`` (start, worker, status, dashboard) and ``results`` (export,
evaluate, data, baselines, leaderboard), in the order ``--help`` lists them.
"""

from search.cli import study  # noqa: F401, I001 - registers start, worker, status, dashboard: first in --help
from search.cli import results  # noqa: F401 - registers export, evaluate, data, baselines, leaderboard
from search.cli.app import app, main

__all__ = ["app", "main"]
