"""What a run tells the person who started it, as an interface that the UI implements.

Engines never see a screen: ``start_study`` and ``join_study`` (search/engines/launch.py) say what
they do through a ``RunView``, and the runner opens the view's display around the run and
refreshes it whenever the store may have changed. The CLI and the Python API pass the rich
console's implementation (search/ui/run_view.py); a caller may pass its own. Warnings go through
search/notices.py instead.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import optuna

    from search.study.settings import StudySettings


class RunDisplay(Protocol):
    """The progress of a running study: opened around the run, refreshed when the store may have changed."""

    def __enter__(self) -> RunDisplay: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...

    def refresh(self) -> None: ...


class DisplayFactory(Protocol):
    """Opens the display of one run of ``study``: ``worker_ids`` are the workers this run started."""

    def __call__(
        self,
        study: optuna.Study,
        settings: StudySettings,
        started: float,
        deadline: float | None,
        workers: int,
        worker_ids: set[int],
    ) -> RunDisplay: ...


class RunView(Protocol):
    """What ``start`` and ``worker`` say to people, and the display of the run."""

    def headline(self, verb: str, study_name: str, rest: str) -> None:
        """The run's first line: ``verb`` (starting, resuming, joining) the study, then ``rest``."""
        ...

    def say(self, text: str, *, dim: bool = False) -> None:
        """One more line for people; ``dim``: a detail under the line before."""
        ...

    def open_display(
        self,
        study: optuna.Study,
        settings: StudySettings,
        started: float,
        deadline: float | None,
        workers: int,
        worker_ids: set[int],
    ) -> RunDisplay:
        """The live view or the log lines of the run (a ``DisplayFactory``)."""
        ...
