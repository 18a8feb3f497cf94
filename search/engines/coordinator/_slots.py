"""A claimed budget slot held for one trial, and how a trial run here ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import optuna

from search.study.settings import FINISHED
from storage.budget import Budget


class TrialSlot:
    """One claimed slot, held from the claim to the trial's end; given back on exit unless kept."""

    def __init__(self, budget: Budget | None) -> None:
        self._budget = budget  # None: the study has no trial limit, there is nothing to give back
        self._kept = False

    def keep(self) -> None:
        """The trial finished (complete or pruned), or another process took over its slot: keep it used."""
        self._kept = True

    def give_back(self) -> None:
        """Release the slot now, once; a later exit does nothing more."""
        if not self._kept and self._budget is not None:
            self._budget.release()
        self._kept = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.give_back()


@dataclass(frozen=True)
class Ended:
    """How a trial run here ended: the trial as stored (None: another process took it over) and why it failed."""

    trial: optuna.trial.FrozenTrial | None
    error: BaseException | None = None
    interrupted: bool = False  # by a signal; unless it finished, its params were re-queued
    out_of_time: bool = False  # by the run's deadline; its params were re-queued

    @property
    def succeeded(self) -> bool:
        return self.trial is not None and self.trial.state in FINISHED
