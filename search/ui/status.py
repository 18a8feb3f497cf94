"""What the store holds: one line per study, or one study's trials, as tables or JSON.

Accuracies are shown in percent with 2 decimals, as everywhere a person reads them; ``--json``
keeps the stored fractions. One study's table lists its best finished trials and every trial
that is running or waiting (re-queued), and says how many it left out and how to see them all.
"""

from __future__ import annotations

from typing import Any

import optuna
from rich.console import Console

from search.errors import StudyError, StudyNameError
from search.study.settings import open_study
from search.ui.console import percent, print_json
from search.ui.progress import StudySnapshot, finished_trials, study_summary, take_snapshot
from search.ui.tables import NONE, Column, print_table
from storage import open_storage, redact

State = optuna.trial.TrialState
TRIALS_SHOWN = 10  # finished trials listed without --all
STUDY_COLUMNS = (
    Column("study"),
    Column("space"),
    *(
        Column(heading, numeric=True)
        for heading in ("complete", "pruned", "failed", "running", "waiting", "best val %", "budget")
    ),
)
TRIAL_COLUMNS = (
    Column("trial", numeric=True),
    Column("state"),
    *(Column(heading, numeric=True) for heading in ("val acc %", "epochs", "best", "weights", "seconds")),
    Column("device"),
)
# Listed after the finished trials: what is happening now, and what runs next.
CURRENT_STATES = (State.RUNNING, State.WAITING)


def show_status(
    console: Console, study_name: str | None, storage_url: str | None, as_json: bool = False, show_all: bool = False
) -> None:
    """One line per study, or one study's trials (best first; every one with ``show_all``); as JSON for scripts."""
    storage = open_storage(storage_url, must_exist=True)
    storage_flag = f" --storage '{redact(storage_url)}'" if storage_url else ""
    if study_name is not None:
        study, settings = open_study(storage, study_name)
        trials = study.get_trials(deepcopy=False)
        snapshot = take_snapshot(study, settings, trials)
        if as_json:
            print_json(console, {**study_summary(study_name, snapshot), "trials": finished_trials(study)})
            return
        _show_study(console, study_name, snapshot, trials, storage_flag, show_all)
        return
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        try:
            study, settings = open_study(storage, summary.study_name)
            rows.append((summary.study_name, take_snapshot(study, settings)))
        except (StudyError, StudyNameError):  # made by something else than fmnist-search
            rows.append((summary.study_name, None))
    if as_json:
        print_json(console, {"studies": [study_summary(name, snapshot) for name, snapshot in rows]})
        return
    if not rows:
        console.print(
            f"the store holds no study yet; start one with: fmnist-search start --space dense{storage_flag}",
            highlight=False,
            soft_wrap=True,
        )
        return
    print_table(console, "studies", STUDY_COLUMNS, [study_row(name, snapshot) for name, snapshot in rows])


def _show_study(
    console: Console,
    name: str,
    snapshot: StudySnapshot,
    trials: list[optuna.trial.FrozenTrial],
    storage_flag: str,
    show_all: bool,
) -> None:
    print_table(console, f"study {name}", STUDY_COLUMNS, [study_row(name, snapshot)])
    if not trials:
        console.print(
            f"study {name} has no trial yet; run it with: fmnist-search start --study {name}{storage_flag}",
            highlight=False,
            soft_wrap=True,
        )
        return
    shown, left_out = listed_trials(trials, None if show_all else TRIALS_SHOWN)
    title = f"best trials of {name}: " + (
        "every trial, best first" if not left_out else f"the {TRIALS_SHOWN} best finished"
    )
    if any(trial.state in CURRENT_STATES for trial in shown):
        title += ", then those running or waiting"
    print_table(console, title, TRIAL_COLUMNS, [trial_row(trial) for trial in shown])
    if left_out:
        console.print(
            f"{left_out} more finished trial(s) not shown; "
            f"every trial: fmnist-search status --study {name} --all{storage_flag}",
            highlight=False,
            soft_wrap=True,
        )
    if snapshot.best_value is not None:
        rows = [
            [key, f"{value:.4g}" if isinstance(value, float) else str(value)]
            for key, value in snapshot.best_params.items()
        ]
        print_table(
            console,
            f"params of the best trial ({snapshot.best_number})",
            (Column("param"), Column("value", numeric=True)),
            rows,
        )


def listed_trials(
    trials: list[optuna.trial.FrozenTrial], limit: int | None
) -> tuple[list[optuna.trial.FrozenTrial], int]:
    """The finished trials best first (at most ``limit``), then every running and waiting one;
    and how many finished ones were left out."""
    finished = [t for t in trials if t.state not in CURRENT_STATES]
    finished.sort(key=lambda t: (_state_order(t.state), -(_val_accuracy(t) or 0.0), t.number))
    current = sorted(
        (t for t in trials if t.state in CURRENT_STATES), key=lambda t: (t.state != State.RUNNING, t.number)
    )
    kept = finished if limit is None else finished[:limit]
    return kept + current, len(finished) - len(kept)


def _state_order(state: State) -> int:
    return {State.COMPLETE: 0, State.PRUNED: 1}.get(state, 2)


def _val_accuracy(trial: optuna.trial.FrozenTrial) -> float | None:
    """The trial's value; a pruned or running trial's best epoch so far."""
    if trial.value is not None:
        return trial.value
    return max(trial.intermediate_values.values()) if trial.intermediate_values else None


def study_row(name: str, snapshot: StudySnapshot | None) -> list[str]:
    """One study as table cells; a None snapshot is a study fmnist-search did not make."""
    if snapshot is None:
        return [name, "(not fmnist-search)", *[NONE] * (len(STUDY_COLUMNS) - 2)]
    counts = (snapshot.complete, snapshot.pruned, snapshot.failed, len(snapshot.running), snapshot.waiting)
    return [
        name,
        snapshot.settings.space.name,
        *map(str, counts),
        percent(snapshot.best_value),
        str(snapshot.settings.n_trials or NONE),
    ]


def trial_row(trial: optuna.trial.FrozenTrial) -> list[str]:
    attrs: dict[str, Any] = trial.user_attrs
    epochs = attrs.get("epochs_run", len(trial.intermediate_values))
    return [
        str(trial.number),
        trial.state.name.lower(),
        percent(_val_accuracy(trial)),
        str(epochs) if epochs or trial.state not in CURRENT_STATES else NONE,
        str(attrs.get("best_epoch", NONE)),
        _compact(attrs["param_count"]) if "param_count" in attrs else NONE,
        f"{attrs['train_seconds']:.1f}" if "train_seconds" in attrs else NONE,
        str(attrs.get("device", NONE)).split(" (")[0],  # "gpu 0 (jax)": the backend is the same for every row
    ]


def _compact(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count / 1e3:.0f}k" if count >= 1e3 else str(count)
