"""Run one search for the comparisons, through the real code paths, and summarise its trials from the store.

fmnist-search: ``run_worker`` (store, budget, pruning callback, trial files), exactly what
``fmnist-search start`` runs with one worker. KerasTuner: ``run_keras_tuner``, what
``fmnist-search start --engine keras-tuner`` runs. Each search gets a fresh SQLite store in the
given folder; the figures come from what the store holds, read back the same way for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from search.engines.keras_tuner.engine import run_keras_tuner
from search.engines.optuna.worker import WorkerJob, run_worker
from search.study.settings import open_study, start_or_resume
from storage import open_storage

State = optuna.trial.TrialState


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial: when it ended (seconds after the search started), its outcome and cost."""

    number: int
    state: str  # COMPLETE or PRUNED
    value: float | None  # best val accuracy of a COMPLETE trial; None when pruned
    epochs: int  # epochs this trial trained itself
    finished_s: float


@dataclass(frozen=True)
class SearchRun:
    """A finished search: its trials in the order they ended, and how long it ran."""

    label: str
    trials: tuple[TrialRecord, ...]
    elapsed_s: float


@dataclass(frozen=True)
class SearchSpec:
    """What both sides of a comparison share: the space, data subset, epochs and seed."""

    space: str
    subset: int
    max_epochs: int
    seed: int


def records_of(study: optuna.Study, started: float) -> tuple[TrialRecord, ...]:
    """The study's finished trials (complete and pruned) in the order they ended, timed from ``started``."""
    finished = study.get_trials(deepcopy=False, states=(State.COMPLETE, State.PRUNED))
    records = [
        TrialRecord(
            number=t.number,
            state=t.state.name,
            value=t.value if t.state == State.COMPLETE else None,
            # KerasTuner's continued trials carry their earlier epochs too; count only their own.
            epochs=int(t.user_attrs.get("epochs_trained", len(t.intermediate_values))),
            finished_s=t.datetime_complete.timestamp() - started if t.datetime_complete else 0.0,
        )
        for t in finished
    ]
    return tuple(sorted(records, key=lambda r: r.finished_s))


def _new_study(workdir: Path, name: str, spec: SearchSpec, pruner: str, n_trials: int | None) -> str:
    url = f"sqlite:///{workdir / f'{name}.db'}"
    start_or_resume(
        open_storage(url), name, space=spec.space, max_epochs=spec.max_epochs, pruner=pruner,
        seed=spec.seed, subset=spec.subset, n_trials=n_trials,
    )  # fmt: skip
    return url


def run_fmnist_search(
    workdir: Path,
    name: str,
    spec: SearchSpec,
    *,
    pruner: str,
    n_trials: int | None = None,
    budget_s: float | None = None,
    after_trial: Callable[[int], None] | None = None,
) -> SearchRun:
    """One worker, TPE seeded with ``spec.seed``, until ``n_trials`` finished trials or ``budget_s`` seconds."""
    url = _new_study(workdir, name, spec, pruner, n_trials)
    return _timed_search(
        url,
        name,
        budget_s,
        after_trial,
        lambda deadline, finished: run_worker(WorkerJob(url, name, deadline=deadline), after_trial=finished),
    )


def run_keras_tuner_search(
    workdir: Path,
    name: str,
    spec: SearchSpec,
    *,
    budget_s: float | None = None,
    after_trial: Callable[[int], None] | None = None,
) -> SearchRun:
    """KerasTuner's Hyperband (factor 3, max epochs ``spec.max_epochs``): one iteration, or until ``budget_s``."""
    url = _new_study(workdir, name, spec, "none", None)
    return _timed_search(
        url,
        name,
        budget_s,
        after_trial,
        lambda deadline, finished: run_keras_tuner(WorkerJob(url, name, deadline=deadline), after_trial=finished),
    )


def _timed_search(
    url: str,
    name: str,
    budget_s: float | None,
    after_trial: Callable[[int], None] | None,
    run: Callable[[float | None, Callable[[optuna.trial.FrozenTrial], None]], object],
) -> SearchRun:
    """Run one engine's search until its deadline, counting finished trials for the progress display."""
    started = time.time()
    count = [0]

    def finished(_: optuna.trial.FrozenTrial) -> None:
        count[0] += 1
        if after_trial:
            after_trial(count[0])

    run(started + budget_s if budget_s else None, finished)
    elapsed = time.time() - started
    study, _ = open_study(open_storage(url), name)
    return SearchRun(name, records_of(study, started), elapsed)
