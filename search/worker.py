"""A worker: one process that loads the data once and runs trials of one study until its budget is spent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import optuna

from search.console import report_error
from search.data import load_train_val
from search.study import count_finished, open_study
from storage import open_storage

if TYPE_CHECKING:
    from search.objective import EpochListener

# A worker whose trials keep failing has a bug or a broken environment, not bad luck.
MAX_CONSECUTIVE_FAILURES = 3


class WorkerError(RuntimeError):
    """A worker stopped because its trials kept failing; the message carries the last reason."""


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs; plain values only, so it crosses a process boundary."""

    storage_url: str
    study_name: str
    worker_id: int = 0
    deadline: float | None = None  # time.time() after which no new trial starts
    data_dir: str | None = None
    verbose: bool = False


def run_worker(
    job: WorkerJob,
    listener: EpochListener | None = None,
    after_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> int:
    """Run trials until the study's budget or the deadline is reached; return how many ran here."""
    from search.quiet import import_keras

    import_keras(job.verbose)
    from search.devices import describe_device
    from search.objective import TrainingContext, train_trial

    storage = open_storage(job.storage_url, must_exist=False)
    study, settings = open_study(storage, job.study_name, job.worker_id)
    data = load_train_val(job.data_dir, settings.subset)
    context = TrainingContext(data, settings.max_epochs, settings.seed, job.worker_id, describe_device())

    errors: list[Exception] = []

    def objective(trial: optuna.Trial) -> float:
        try:
            return train_trial(trial, settings.space, context, listener)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            errors.append(error)  # Optuna records the trial as failed; we keep why, for the user
            raise

    finished: list[optuna.trial.FrozenTrial] = []
    ran = failures = 0
    while not _budget_spent(study, settings.n_trials, job.deadline):
        # Optuna passes every finished trial (any state) to the callbacks: that is the one we ran.
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[lambda _, t: finished.append(t)])
        ran += 1
        last = finished[-1]
        if after_trial:
            after_trial(last)
        failed = last.state == optuna.trial.TrialState.FAIL
        if failed and errors:
            report_error(f"trial {last.number} failed: {_one_line(errors[-1])}", label="warning")
        failures = failures + 1 if failed else 0
        if failures >= MAX_CONSECUTIVE_FAILURES:
            reason = _one_line(errors[-1]) if errors else "unknown reason"
            raise WorkerError(f"{failures} trials in a row failed; the last one: {reason}")
    return ran


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _budget_spent(study: optuna.Study, n_trials: int | None, deadline: float | None) -> bool:
    if deadline is not None and time.time() >= deadline:
        return True
    return n_trials is not None and count_finished(study) >= n_trials

