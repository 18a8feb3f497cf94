"""Tables for people that stay readable at any width, on a terminal or in a log.

rich fits a table to the console's width by wrapping or cutting its cells: at 80 columns (a
pipe, ``docker compose logs``) a notes column came out 2 characters a line and study names as
``quickst…``. Here a table is printed only at its natural width, where no cell wraps; when that
is wider than the console, its free-text columns move under it, one line per row, and when even
that does not fit, each row is printed as one line of ``heading value`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

NONE = "—"  # an empty cell; a long column's empty cells are not repeated under the table


@dataclass(frozen=True)
class Column:
    heading: str
    numeric: bool = False  # right-aligned
    long: bool = False  # free text (notes): listed under the table when the table would not fit


def print_table(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], key: int = 0
) -> None:
    """The table whole if it fits the console's width; else without its long columns, which follow it
    one line per row (named by the row's ``key`` cell); else one line per row. No cell is ever wrapped or cut."""
    # The title on its own line: rich wraps a table's title to the table's width.
    console.print(title, style="bold", highlight=False, markup=False, soft_wrap=True)
    whole = _table(columns, rows)
    if _fits(console, whole):
        console.print(whole)
        return
    short = [i for i, column in enumerate(columns) if not column.long]
    if len(short) < len(columns):
        table = _table([columns[i] for i in short], [[row[i] for i in short] for row in rows])
        if _fits(console, table):
            console.print(table)
            for row in rows:
                for i, column in enumerate(columns):
                    if column.long and row[i] and row[i] != NONE:
                        console.print(
                            f"{row[key]}, {column.heading}: {row[i]}", highlight=False, markup=False, soft_wrap=True
                        )
            return
    for row in rows:
        pairs = [
            _pair(column.heading, cell) for i, (column, cell) in enumerate(zip(columns, row, strict=True)) if i != key
        ]
        console.print(f"{row[key]}: {', '.join(pairs)}", highlight=False, markup=False, soft_wrap=True)


def _pair(heading: str, cell: str) -> str:
    """``best val 87.66 %`` from the heading ``best val %``: the unit after the number, as in a sentence."""
    if heading.endswith(" %"):
        return f"{heading.removesuffix(' %')} {cell}" + ("" if cell == NONE else " %")
    return f"{heading} {cell}"


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Table:
    # A light box and 2 spaces between columns: a heavy box costs 3 characters a column,
    # which 80 columns cannot spare.
    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        highlight=False,
    )
    for column in columns:
        table.add_column(column.heading, justify="right" if column.numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # Text: a note's brackets are not markup
    return table


def _fits(console: Console, table: Table) -> bool:
    # Measured without a width limit: rich clamps a measurement to the width it is given.
    natural = console.measure(table, options=console.options.update_width(1_000_000)).maximum
    return natural <= console.width
