"""How a running study reports itself: a live view on a terminal, lines in a log everywhere else.

On a terminal the rich live view redraws the counts, the ETA and each worker's trial in place.
Off a terminal (nohup, ``docker compose logs``, CI) a redrawn view is useless, so a log gets one
line per trial as it finishes and a status line every minute, as text or as one JSON object per
line (``--log-format json``; then stdout carries nothing else). Every view reads the store, so
it shows the same whether the trials run in this process, in worker processes or elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import Any

import optuna
from rich.console import Console
from rich.live import Live

from search.engines.coordinator import FAIL_REASON_ATTR
from search.engines.divergence import DIVERGED_ATTR
from search.engines.run_view import RunDisplay
from search.settings import settings as current_settings
from search.study.settings import StudySettings
from search.ui.console import LOG_FORMATS, percent
from search.ui.progress import StudySnapshot, eta_seconds, format_duration, format_params, render_live, take_snapshot

STATUS_SECONDS = 60.0
FINISHED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def open_display(
    console: Console,
    study: optuna.Study,
    settings: StudySettings,
    started: float,
    deadline: float | None,
    workers: int,
    log_format: str = "auto",
    worker_ids: set[int] | None = None,
) -> RunDisplay:
    """The live view on a terminal with ``auto``; otherwise (or with ``text``/``json``) a log of lines.

    ``worker_ids``: log only the trials these workers finish, so that N workers of one study, each
    with its own log, do not each repeat the others' trials (the status lines cover the study).
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, but got {log_format!r}")
    if log_format == "auto" and console.is_terminal:
        return LiveDisplay(console, study, settings, started, deadline, workers)
    every = current_settings().status_interval
    return TrialLog(console, study, settings, started, deadline, workers, log_format == "json", worker_ids, every)


class LiveDisplay:
    """The rich live view: the store is read on refresh, the clock (elapsed, ETA) ticks in between."""

    def __init__(
        self,
        console: Console,
        study: optuna.Study,
        settings: StudySettings,
        started: float,
        deadline: float | None,
        workers: int,
    ) -> None:
        self._study, self._settings = study, settings
        self._started, self._deadline, self._workers = started, deadline, workers
        self._snapshot = take_snapshot(study, settings)
        # get_renderable is called on every redraw (4 a second): it reuses the last snapshot.
        self._live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self._view)

    def _view(self) -> Any:
        return render_live(self._snapshot, self._started, self._deadline, self._workers)

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, error, trace)

    def refresh(self) -> None:
        self._snapshot = take_snapshot(self._study, self._settings)
        self._live.refresh()


class TrialLog:
    """One line per finished trial and a status line every ``status_seconds``, as text or JSON.

    A thread writes the status lines, so they come every minute even while one epoch takes longer;
    a lock keeps its lines and the runner's whole.
    """

    def __init__(
        self,
        console: Console,
        study: optuna.Study,
        settings: StudySettings,
        started: float,
        deadline: float | None,
        workers: int,
        as_json: bool = False,
        worker_ids: set[int] | None = None,
        status_seconds: float = STATUS_SECONDS,
    ) -> None:
        self._console, self._study, self._settings = console, study, settings
        self._started, self._deadline, self._workers = started, deadline, workers
        self._as_json, self._worker_ids, self._status_seconds = as_json, worker_ids, status_seconds
        self._logged: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="status-log", daemon=True)

    def __enter__(self) -> TrialLog:
        # Trials that finished before this run are the store's history, not news.
        self._logged = {t.number for t in self._study.get_trials(deepcopy=False, states=FINISHED_STATES)}
        self._ticker.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._ticker.join(timeout=5)
        try:
            with self._lock:
                self._write(self._status_event("end", self._log_new_trials()))
        except Exception:  # noqa: BLE001 - a store gone with the run's own error must not hide that error
            if kind is None:
                raise

    def refresh(self) -> None:
        with self._lock:
            self._log_new_trials()

    def _tick(self) -> None:
        while not self._stop.wait(self._status_seconds):
            try:
                with self._lock:
                    self._write(self._status_event("status", self._log_new_trials()))
            except Exception:  # noqa: BLE001 - a store that is away for a moment must not end the run; the next tick retries
                continue

    def _log_new_trials(self) -> StudySnapshot:
        """Write a line for each trial finished since the last call; return the study's snapshot."""
        trials = self._study.get_trials(deepcopy=False)
        for trial in trials:
            if trial.state not in FINISHED_STATES or trial.number in self._logged:
                continue
            self._logged.add(trial.number)
            if self._worker_ids is None or trial.user_attrs.get("worker_id") in self._worker_ids:
                self._write(trial_event(self._study.study_name, trial, self._settings))
        return take_snapshot(self._study, self._settings, trials)

    def _status_event(self, event: str, snapshot: StudySnapshot) -> dict[str, Any]:
        now = time.time()
        return status_event(
            event, snapshot, now - self._started, eta_seconds(snapshot, self._workers, self._deadline, now)
        )

    def _write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(", ", ": ")) if self._as_json else format_line(event)
        # out(): no markup, no wrapping at the console's width: one event, one line.
        self._console.out(line, highlight=False)


def trial_event(study_name: str, trial: optuna.trial.FrozenTrial, settings: StudySettings) -> dict[str, Any]:
    """What a log says of one finished trial."""
    attrs = trial.user_attrs
    value = trial.value
    if value is None and trial.intermediate_values:  # a pruned trial: its best epoch so far
        value = max(trial.intermediate_values.values())
    seconds = attrs.get("train_seconds")
    if seconds is None and trial.datetime_start and trial.datetime_complete:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return {
        "time": _now(),
        "event": "trial",
        "study": study_name,
        "number": trial.number,
        "state": trial.state.name.lower(),
        "val_accuracy": value,
        "epochs": attrs.get("epochs_run", len(trial.intermediate_values)),
        "max_epochs": settings.max_epochs,
        "seconds": None if seconds is None else round(float(seconds), 1),
        "worker": attrs.get("worker_id"),
        "device": attrs.get("device"),
        "params": dict(trial.params),
        "reason": _why_it_ended(trial),
    }


def _why_it_ended(trial: optuna.trial.FrozenTrial) -> str | None:
    """A failed trial's reason, or a pruned trial's divergence; None for the rest."""
    if trial.state == optuna.trial.TrialState.FAIL:
        return trial.user_attrs.get(FAIL_REASON_ATTR)
    if DIVERGED_ATTR in trial.user_attrs:
        return f"diverged: {trial.user_attrs[DIVERGED_ATTR]}"
    return None


def status_event(event: str, snapshot: StudySnapshot, elapsed: float, eta: float | None) -> dict[str, Any]:
    """What a log says of the whole study: counts, budget, best trial, time spent and left."""
    return {
        "time": _now(),
        "event": event,
        "study": snapshot.name,
        "finished": snapshot.finished,
        "budget": snapshot.settings.n_trials,
        "complete": snapshot.complete,
        "pruned": snapshot.pruned,
        "failed": snapshot.failed,
        "running": len(snapshot.running),
        "best_val_accuracy": snapshot.best_value,
        "best_trial": snapshot.best_number,
        "elapsed_seconds": round(elapsed, 1),
        "eta_seconds": None if eta is None else round(eta, 1),
    }


def format_line(event: dict[str, Any]) -> str:
    """An event as one line of text for people reading a log."""
    if event["event"] == "trial":
        value = "-" if event["val_accuracy"] is None else f"{percent(event['val_accuracy'])} %"
        seconds = "-" if event["seconds"] is None else f"{event['seconds']:.1f} s"
        worker = "?" if event["worker"] is None else event["worker"]
        why = f" ({event['reason']})" if event.get("reason") else ""
        return (
            f"{event['time']} trial {event['number']} {event['state']}{why}  val acc {value}  "
            f"epochs {event['epochs']}/{event['max_epochs']}  {seconds}  worker {worker}  "
            f"{format_params(event['params'])}"
        )
    budget = f"/{event['budget']}" if event["budget"] else ""
    best = (
        "-"
        if event["best_val_accuracy"] is None
        else f"{percent(event['best_val_accuracy'])} % (trial {event['best_trial']})"
    )
    eta = "-" if event["eta_seconds"] is None else format_duration(event["eta_seconds"])
    return (
        f"{event['time']} {event['event']}  finished {event['finished']}{budget} (complete {event['complete']}, "
        f"pruned {event['pruned']}, failed {event['failed']})  running {event['running']}  best {best}  "
        f"elapsed {format_duration(event['elapsed_seconds'])}  eta {eta}"
    )


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
