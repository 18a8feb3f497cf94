"""The files a trial leaves for the dashboard: a learning-curve image, a Markdown note, and study plots.

They are part of a trial's record (search/engines/record.py), written to the artifact store and
the study, not drawn on a screen. A trial's files must be attached while it is still running:
Optuna refuses to change a finished trial, and a pruned one finishes the moment the objective
raises. Notes and study plots live in the study's system attributes (optuna-dashboard's format),
so they could be written later, but they are written at the same point for simplicity.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import upload_artifact
from optuna_dashboard import save_note, save_plotly_graph_object

from search.engines.record import history_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from optuna.artifacts._protocol import ArtifactStore

LEARNING_CURVE_FILE = "learning_curve.png"
ACCURACY_VS_PARAMS_ID = "accuracy-vs-parameters"


def render_learning_curve(history: dict[str, list[float | None]], title: str, path: Path) -> Path:
    """Train and validation accuracy and loss per epoch, side by side, as a small PNG."""
    learning_curve_figure(history, title).savefig(path, format="png")
    return path


def learning_curve_figure(history: dict[str, list[float | None]], title: str) -> Figure:
    """The learning curve's figure: epochs on the x axes, as whole numbers only, however few."""
    # The object API, not pyplot: no global figure registry to leak figures across trials,
    # and no GUI backend is ever chosen.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    figure = Figure(figsize=(8, 3), dpi=80)
    FigureCanvasAgg(figure)
    epochs = list(range(1, len(history.get("val_accuracy", [])) + 1))
    accuracy_axes, loss_axes = figure.subplots(1, 2)
    for axes, metric in ((accuracy_axes, "accuracy"), (loss_axes, "loss")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = [float("nan") if v is None else v for v in history.get(prefix + metric, [])]
            axes.plot(epochs[: len(values)], values, marker="o", markersize=3, label=label)
        axes.set_xlabel("epoch")
        # Half an epoch of room each side; a pruned trial's single epoch gets the one tick "1", not 0.945...1.050.
        axes.set_xlim(0.5, max(len(epochs), 1) + 0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.set_ylabel(metric)
        if metric == "accuracy":  # in percent, as people read accuracies everywhere
            axes.yaxis.set_major_formatter(PercentFormatter(xmax=1))
        axes.grid(alpha=0.3)
    # Drawing is most of a trial's fixed cost (bench/profile_trial.py): both panels share their
    # colours, so one legend says it all, and fixed margins replace tight_layout(), which draws
    # every text once more to measure it.
    accuracy_axes.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.88, wspace=0.25)
    return figure


def trial_note(
    trial_number: int, attrs: dict[str, Any], max_epochs: int, pruned: bool, curve_url: str | None = None
) -> str:
    """The trial's Markdown note: size, epochs, pruning, device, time, and the learning curve shown inline."""
    epochs_run = attrs.get("epochs_run", 0)
    outcome = f"pruned after epoch {epochs_run}" if pruned else "trained to the end"
    lines = [
        f"## Trial {trial_number}",
        "",
        "| | |",
        "|---|---|",
        f"| parameters | {attrs.get('param_count', 0):,} |",
        f"| epochs run | {epochs_run} of {max_epochs} |",
        f"| outcome | {outcome} |",
        f"| best epoch | {attrs.get('best_epoch', 0)} |",
        "| value | `val_accuracy`: the best epoch's validation accuracy |",
        f"| device | {attrs.get('device', '?')} (worker {attrs.get('worker_id', '?')}) |",
        f"| train time | {attrs.get('train_seconds', 0.0):.1f} s |",
        "",
    ]
    if curve_url:
        lines += [f"![learning curve: accuracy and loss per epoch]({curve_url})", ""]
    lines.append(f"Learning curves: the `{LEARNING_CURVE_FILE}` artifact{' below' if not curve_url else ''}.")
    return "\n".join(lines)


def trial_artifact_url(study_id: int, trial_id: int, artifact_id: str) -> str:
    """optuna-dashboard's route for a trial's file, which a note's Markdown image can show."""
    return f"/artifacts/{study_id}/{trial_id}/{artifact_id}"


def learning_curve_url(study_id: int, trial: optuna.trial.FrozenTrial) -> str | None:
    """Where the dashboard serves a finished trial's learning curve; None when it has none."""
    for key, value in trial.system_attrs.items():
        if key.startswith("artifacts:") and json.loads(value).get("filename") == LEARNING_CURVE_FILE:
            return trial_artifact_url(study_id, trial._trial_id, json.loads(value)["artifact_id"])
    return None


def attach_trial_report(trial: optuna.Trial, artifact_store: ArtifactStore, max_epochs: int, pruned: bool) -> None:
    """Upload the learning curve and save the note of a trial that is about to finish (still RUNNING)."""
    attrs = trial.user_attrs
    history = history_of(trial)
    with tempfile.TemporaryDirectory(prefix="fmnist-trial-") as folder:
        path = render_learning_curve(history, f"trial {trial.number}", Path(folder) / LEARNING_CURVE_FILE)
        artifact_id = upload_artifact(
            artifact_store=artifact_store, file_path=str(path), study_or_trial=trial, mimetype="image/png"
        )
    url = trial_artifact_url(trial.study._study_id, trial._trial_id, artifact_id)
    save_note(trial, trial_note(trial.number, attrs, max_epochs, pruned, url))


def accuracy_vs_parameters(trials: list[optuna.trial.FrozenTrial]) -> Any:
    """Best validation accuracy against parameter count (log scale), complete and pruned trials apart."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
        chosen = [t for t in trials if t.state == state and "param_count" in t.user_attrs]
        figure.add_trace(
            go.Scatter(
                x=[t.user_attrs["param_count"] for t in chosen],
                y=[_best_accuracy(t) for t in chosen],
                text=[f"trial {t.number}" for t in chosen],
                mode="markers",
                name=state.name.lower(),
            )
        )
    figure.update_layout(
        title="Validation accuracy vs parameter count",
        xaxis={"title": "parameters", "type": "log"},
        # The stored fractions, shown in percent as everywhere people read them.
        yaxis={"title": "best validation accuracy", "tickformat": ".1%", "hoverformat": ".2%"},
    )
    return figure


def _best_accuracy(trial: optuna.trial.FrozenTrial) -> float | None:
    """A complete trial's value; a pruned one has none, so its best reported epoch."""
    if trial.value is not None:
        return trial.value
    return max(trial.intermediate_values.values(), default=None)


def update_study_plots(study: optuna.Study) -> None:
    """Redraw the study-level plots the dashboard lacks; each keeps one id, so it is overwritten."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False, states=states)
    save_plotly_graph_object(study, accuracy_vs_parameters(trials), graph_object_id=ACCURACY_VS_PARAMS_ID)


def warm_up_study_plots() -> None:
    """Build one empty study plot, so that plotly's first-figure set-up (its validators are
    created lazily) is paid once when a worker starts, not inside its first trial, and its
    objects are in place before the worker freezes its long-lived ones."""
    accuracy_vs_parameters([])
