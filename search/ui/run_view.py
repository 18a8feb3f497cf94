"""The rich console's ``RunView`` (search/engines/run_view.py): what ``start`` and ``worker`` show.

With ``log_format="json"`` stdout carries only the run's JSON lines: what is said to people goes
to stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from search.errors import StudyError
from search.ui.console import LOG_FORMATS, errors

if TYPE_CHECKING:
    import optuna

    from search.engines.run_view import RunDisplay
    from search.study.settings import StudySettings


class ConsoleRunView:
    """Lines for people on ``console`` (stderr under ``json``), the live view or log lines of the run."""

    def __init__(self, console: Console, log_format: str = "auto") -> None:
        if log_format not in LOG_FORMATS:
            raise StudyError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, but got {log_format!r}")
        self._log, self._log_format = console, log_format
        self._people = errors if log_format == "json" else console

    def headline(self, verb: str, study_name: str, rest: str) -> None:
        # One line in a log, whatever the width.
        self._people.print(f"[bold]{verb}[/] study [cyan]{study_name}[/]{rest}", highlight=False, soft_wrap=True)

    def say(self, text: str, *, dim: bool = False) -> None:
        self._people.print(text, style="dim" if dim else None, highlight=False, soft_wrap=True)

    def open_display(
        self,
        study: optuna.Study,
        settings: StudySettings,
        started: float,
        deadline: float | None,
        workers: int,
        worker_ids: set[int],
    ) -> RunDisplay:
        from search.ui.display import open_display

        return open_display(self._log, study, settings, started, deadline, workers, self._log_format, worker_ids)


class SilentRunView:
    """A ``RunView`` that shows nothing: no lines, no live view, no log (the Python API's ``quiet=True``)."""

    def headline(self, verb: str, study_name: str, rest: str) -> None:
        pass

    def say(self, text: str, *, dim: bool = False) -> None:
        pass

    def open_display(
        self,
        study: optuna.Study,
        settings: StudySettings,
        started: float,
        deadline: float | None,
        workers: int,
        worker_ids: set[int],
    ) -> RunDisplay:
        return _NoDisplay()


class _NoDisplay:
    """The display of a run nobody watches."""

    def __enter__(self) -> _NoDisplay:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def refresh(self) -> None:
        pass
