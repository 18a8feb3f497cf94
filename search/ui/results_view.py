"""The rich console's ``ResultsView`` (search/results/view.py): export, evaluate and baselines on screen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

from search.ui.console import epoch_progress

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class _RichEpochBar:
    """One task of a rich progress bar."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task

    def update(self, completed: int, description: str | None = None) -> None:
        if description is None:
            self._progress.update(self._task, completed=completed)
        else:
            self._progress.update(self._task, completed=completed, description=description)


class ConsoleResultsView:
    """Lines on ``console`` and a transient epoch bar (``epoch_progress``) under them."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def say(self, text: str) -> None:
        self._console.print(text, highlight=False)

    @contextmanager
    def epochs(self, description: str, total: int) -> Iterator[_RichEpochBar]:
        with epoch_progress(self._console) as progress:
            yield _RichEpochBar(progress, progress.add_task(description, total=total))


class SilentResultsView:
    """A ``ResultsView`` that shows nothing (the Python API's ``quiet=True``)."""

    def say(self, text: str) -> None:
        pass

    @contextmanager
    def epochs(self, description: str, total: int) -> Iterator[_SilentEpochBar]:
        yield _SilentEpochBar()


class _SilentEpochBar:
    def update(self, completed: int, description: str | None = None) -> None:
        pass
