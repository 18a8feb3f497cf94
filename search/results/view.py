"""What export, evaluate and baselines tell people, as an interface that the UI implements.

These steps compute and persist; they say what they did in lines and show long training as a
bar counted in epochs, through a ``ResultsView`` the caller passes in (the rich console's is
search/ui/results_view.py). Nothing under search/results/ prints.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


def percent_of(fraction: float, spread: float | None = None) -> str:
    """An accuracy in a sentence, in the unit people read everywhere (percent, 2 decimals):
    ``83.97 %``, or ``83.97 ± 0.12 %`` with the spread over several models. JSON keeps fractions."""
    if spread is None:
        return f"{100 * fraction:.2f} %"
    return f"{100 * fraction:.2f} ± {100 * spread:.2f} %"


class EpochBar(Protocol):
    """A bar counted in epochs, open while a model trains."""

    def update(self, completed: int, description: str | None = None) -> None:
        """``completed`` epochs so far; ``description`` replaces the bar's label when given."""
        ...


class ResultsView(Protocol):
    """Lines for people, and epoch bars for long training outside a study."""

    def say(self, text: str) -> None:
        """One line for people."""
        ...

    def epochs(self, description: str, total: int) -> AbstractContextManager[EpochBar]:
        """A bar of ``total`` epochs, labelled ``description``, open for the ``with`` block."""
        ...
