"""The record of one trial, the same whichever engine ran it.

Both engines write on every trial: its per-epoch history (train and validation accuracy and
loss; a NaN is stored as null, which JSON has), the epoch at which validation accuracy peaked
(``export`` retrains for that many epochs), who ran it and where, its size and train time, and,
before the trial ends (a finished trial is read-only), its learning curve and note
(search/engines/trial_files.py). A failure to write those pictures costs the trial nothing: it is
one warning (search/notices.py), which the UI shows as one line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from search import notices

if TYPE_CHECKING:
    import optuna
    from optuna.artifacts._protocol import ArtifactStore

METRICS = ("accuracy", "loss", "val_accuracy", "val_loss")
History = dict[str, list[float | None]]
# The per-epoch history is a system attribute: optuna-dashboard lists user attributes one per
# line, and a history of a few epochs as one line made the trial pane wider than the window.
HISTORY_ATTR = "fmnist_history"
OLD_HISTORY_ATTR = "history"  # where studies made before kept it, as a user attribute


def new_history() -> History:
    """An empty per-epoch history: one list per metric."""
    return {name: [] for name in METRICS}


def add_epoch(history: History, logs: Mapping[str, Any] | None) -> float | None:
    """Append one epoch's Keras logs to ``history``; return its validation accuracy (None if not finite)."""
    for name in METRICS:
        value = float((logs or {}).get(name, math.nan))
        history[name].append(value if math.isfinite(value) else None)
    return history["val_accuracy"][-1]


def best_epoch(history: History) -> int:
    """The epoch (from 1) with the best validation accuracy; 0 when no epoch ran."""
    val = [v or 0.0 for v in history["val_accuracy"]]
    return max(range(len(val)), key=val.__getitem__) + 1 if val else 0


def runner_attrs(worker_id: int, device: str) -> dict[str, Any]:
    """Who runs a trial and where: known from its start, so a live display can show it while it trains."""
    return {"worker_id": worker_id, "device": device}


def result_attrs(history: History, param_count: int, seconds: float) -> dict[str, Any]:
    """What a trial's training left, as user attributes: epochs run, best epoch, parameter count, train seconds."""
    return {
        "epochs_run": len(history["val_accuracy"]),
        "best_epoch": best_epoch(history),
        "param_count": int(param_count),
        "train_seconds": round(seconds, 3),
    }


def save_history(trial: optuna.Trial, history: History) -> None:
    """Store a running trial's per-epoch history (``HISTORY_ATTR``) through the storage's public API."""
    import optuna

    if not isinstance(trial, optuna.Trial):  # a FixedTrial (tests, a notebook): its attributes are a plain dict
        trial.system_attrs[HISTORY_ATTR] = history
        return
    trial.storage.set_trial_system_attr(_trial_id(trial), HISTORY_ATTR, history)


def history_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> History:
    """A trial's per-epoch history, running or finished; empty when it has none."""
    import optuna

    if isinstance(trial, optuna.Trial):  # a running trial: Optuna's Trial shows no system attributes
        system_attrs = trial.storage.get_trial_system_attrs(_trial_id(trial))
    else:
        system_attrs = trial.system_attrs
    return system_attrs.get(HISTORY_ATTR) or trial.user_attrs.get(OLD_HISTORY_ATTR) or {}


def _trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a running trial, through the storage's public API."""
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def one_line(error: BaseException) -> str:
    """An error as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def attach_report(trial: optuna.Trial, artifacts: ArtifactStore | None, max_epochs: int, pruned: bool) -> None:
    """The trial's learning curve and note, before it ends; a failed upload is a warning, not a failed trial."""
    from search.engines.trial_files import attach_trial_report

    if artifacts is None:
        return
    try:
        attach_trial_report(trial, artifacts, max_epochs, pruned)
    except Exception as error:  # noqa: BLE001 - disk full, unwritable folder, store hiccup
        notices.warn(f"trial {trial.number}: learning curve and note not saved: {one_line(error)}")


def update_plots(study: optuna.Study) -> None:
    """Redraw the study's plots after a trial; a failure is a warning, for the same reason."""
    from search.engines.trial_files import update_study_plots

    try:
        update_study_plots(study)
    except Exception as error:  # noqa: BLE001 - as attach_report
        notices.warn(f"study plots not updated: {one_line(error)}")


def warm_up_plots() -> None:
    """Pay plotly's first-figure set-up when a worker starts, not inside its first trial."""
    from search.engines.trial_files import warm_up_study_plots

    warm_up_study_plots()
