"""What people see: a snapshot of a study read from the store, and its rich rendering.

Everything shown comes from the store, so the same display serves one in-process worker,
N worker processes, or workers on other machines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from rich.console import Group
from rich.table import Table
from rich.text import Text

from search.study.settings import StudySettings
from search.ui.console import percent

State = optuna.trial.TrialState


@dataclass(frozen=True)
class RunningTrial:
    number: int
    worker_id: int | None
    epochs_done: int
    device: str


@dataclass(frozen=True)
class StudySnapshot:
    """Counts, best trial and running trials of a study at one moment."""

    name: str
    settings: StudySettings
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    waiting: int = 0
    running: tuple[RunningTrial, ...] = ()
    best_value: float | None = None
    best_number: int | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    epochs_trained: int = 0
    mean_trial_seconds: float | None = None  # wall time of a finished (complete or pruned) trial, on average

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def take_snapshot(
    study: optuna.Study, settings: StudySettings, trials: list[optuna.trial.FrozenTrial] | None = None
) -> StudySnapshot:
    """The study now; ``trials`` when the caller has just read them (one read of the store, not two)."""
    if trials is None:
        trials = study.get_trials(deepcopy=False)
    count = {state: 0 for state in State}
    for trial in trials:
        count[trial.state] += 1
    complete = [t for t in trials if t.state == State.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value) if complete else None
    running = tuple(
        RunningTrial(
            t.number, t.user_attrs.get("worker_id"), len(t.intermediate_values), t.user_attrs.get("device", "?")
        )
        for t in trials
        if t.state == State.RUNNING
    )
    return StudySnapshot(
        name=study.study_name,
        settings=settings,
        complete=count[State.COMPLETE],
        pruned=count[State.PRUNED],
        failed=count[State.FAIL],
        waiting=count[State.WAITING],
        running=running,
        best_value=best.value if best else None,
        best_number=best.number if best else None,
        best_params=dict(best.params) if best else {},
        epochs_trained=sum(len(t.intermediate_values) for t in trials),
        mean_trial_seconds=_mean_trial_seconds(trials),
    )


def _mean_trial_seconds(trials: list[optuna.trial.FrozenTrial]) -> float | None:
    """Pruned trials count too: they are part of what the rest of the budget will cost."""
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.state in (State.COMPLETE, State.PRUNED)
        and t.datetime_start is not None
        and t.datetime_complete is not None
    ]
    return sum(durations) / len(durations) if durations else None


def eta_seconds(snapshot: StudySnapshot, workers: int, deadline: float | None, now: float) -> float | None:
    """Seconds until the run ends: the trials left times the mean trial time, shared by the workers,
    and never past the deadline. None while nothing bounds the run or no trial has finished yet."""
    by_deadline = max(0.0, deadline - now) if deadline is not None else None
    n_trials = snapshot.settings.n_trials
    if n_trials is None or snapshot.mean_trial_seconds is None:
        return by_deadline if n_trials is None else None
    by_budget = max(0, n_trials - snapshot.finished) * snapshot.mean_trial_seconds / max(1, workers)
    return by_budget if by_deadline is None else min(by_budget, by_deadline)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_params(params: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def render_live(snapshot: StudySnapshot, started: float, deadline: float | None, workers: int = 1) -> Group:
    """The live view of ``start``: counts, budget left, ETA, best so far, and what each worker does."""
    settings = snapshot.settings
    now = time.time()
    elapsed = now - started
    eta = eta_seconds(snapshot, workers, deadline, now)
    budget = []
    if settings.n_trials is not None:
        budget.append(f"{max(0, settings.n_trials - snapshot.finished)} trials")
    if deadline is not None:
        budget.append(format_duration(deadline - time.time()))
    header = Text.assemble(
        ("finished ", "bold"),
        f"{snapshot.finished}" + (f"/{settings.n_trials}" if settings.n_trials else ""),
        ("  complete ", "green"),
        str(snapshot.complete),
        ("  pruned ", "yellow"),
        str(snapshot.pruned),
        ("  failed ", "red"),
        str(snapshot.failed),
        ("  running ", "cyan"),
        str(len(snapshot.running)),
        ("  elapsed ", "bold"),
        format_duration(elapsed),
        ("  left ", "bold"),
        ", ".join(budget) or "until stopped",
        ("  eta ", "bold"),
        "-" if eta is None else format_duration(eta),
    )
    if snapshot.best_value is None:
        best = Text("best: no complete trial yet", style="dim")
    else:
        best = Text.assemble(
            ("best val acc ", "bold"),
            (f"{percent(snapshot.best_value)} %", "bold green"),
            f" (trial {snapshot.best_number})  ",
            (format_params(snapshot.best_params), "dim"),
        )
    parts: list[Any] = [header, best]
    if snapshot.running:
        workers = Table(box=None, padding=(0, 2), header_style="bold")
        for column in ("worker", "trial", "epoch", "device"):
            workers.add_column(column)
        for run in sorted(snapshot.running, key=lambda r: (r.worker_id is None, r.worker_id or 0)):
            workers.add_row(
                "?" if run.worker_id is None else str(run.worker_id),
                str(run.number),
                f"{run.epochs_done}/{settings.max_epochs}",
                run.device,
            )
        parts.append(workers)
    return Group(*parts)


def study_summary(name: str, snapshot: StudySnapshot | None) -> dict[str, Any]:
    """One study as plain data (``status --json``); a None snapshot is a study fmnist-search did not make."""
    if snapshot is None:
        return {"study": name, "fmnist_search": False}
    settings = snapshot.settings
    return {
        "study": name,
        "fmnist_search": True,
        "space": settings.space.name,
        "model": settings.space.model,
        "max_epochs": settings.max_epochs,
        "subset": settings.subset,
        "sampler": settings.sampler,
        "pruner": settings.pruner,
        "budget": settings.n_trials,
        "complete": snapshot.complete,
        "pruned": snapshot.pruned,
        "failed": snapshot.failed,
        "waiting": snapshot.waiting,
        "running": len(snapshot.running),
        "best_val_accuracy": snapshot.best_value,
        "best_trial": snapshot.best_number,
        "best_params": snapshot.best_params,
    }


def finished_trials(study: optuna.Study) -> list[dict[str, Any]]:
    """Every complete and pruned trial as plain data, best first (as ``status --study`` lists them)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in (State.COMPLETE, State.PRUNED)]
    trials.sort(key=lambda t: (t.state != State.COMPLETE, -(t.value or 0.0)))
    attrs = ("epochs_run", "best_epoch", "param_count", "train_seconds", "worker_id", "device")
    return [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "val_accuracy": t.value,
            **{k: t.user_attrs.get(k) for k in attrs},
            "params": dict(t.params),
        }
        for t in trials
    ]
