"""``fmnist-search leaderboard`` on screen: a table, Markdown or JSON of search/results/leaderboard.py's rows."""

from __future__ import annotations

from rich.console import Console

from search.results.leaderboard import (
    format_count,
    format_seconds,
    format_test,
    markdown_table,
    not_run_line,
    read_leaderboard,
)
from search.ui.console import percent, print_json
from search.ui.tables import Column, print_table

# Accuracies in percent, as everywhere a person reads them; the notes go under a table too wide for the console.
LEADERBOARD_COLUMNS = (
    Column("model"),
    Column("name"),
    Column("test acc %", numeric=True),
    Column("train", numeric=True),
    Column("val acc %", numeric=True),
    Column("params", numeric=True),
    Column("notes", long=True),
    Column("reported", long=True),  # what the seed's report claimed
)


def show_leaderboard(console: Console, *, storage_url: str | None, markdown: bool, as_json: bool = False) -> None:
    """Seeds and searched bests side by side; the seeds not run yet are named in one line with their command."""
    board = read_leaderboard(storage_url)
    if as_json:
        print_json(console, board.to_data())
        return
    line = not_run_line(board.not_run, board.storage_flag)
    if markdown:
        print(markdown_table(board.rows, line), end="")
        return
    cells = [
        [
            row.model,
            f"{row.kind} {row.name}",
            format_test(row, with_models=False).removesuffix(" %"),
            format_seconds(row.train_seconds),
            percent(row.validation_accuracy),
            format_count(row.param_count),
            row.note,
            row.reported or "—",
        ]
        for row in board.rows
    ]
    if board.rows:
        title = "final models: searched bests retrained on 60k, seed baselines"
        print_table(console, title, LEADERBOARD_COLUMNS, cells, key=1)
    else:
        message = "no final model yet: export a study's best (fmnist-search export) or train the seeds' models"
        console.print(message, highlight=False, soft_wrap=True)
    if line:
        console.print(line, highlight=False, soft_wrap=True)
