"""Trial reports: the learning-curve PNG, the note, attaching them to a running or pruned trial, study plots."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna_dashboard._note import get_note_from_system_attrs

from search.engines.trial_files import (
    ACCURACY_VS_PARAMS_ID,
    accuracy_vs_parameters,
    attach_trial_report,
    learning_curve_figure,
    render_learning_curve,
    trial_note,
    update_study_plots,
)
from storage import open_storage
from storage.artifacts import artifact_dir, open_artifact_store

HISTORY = {
    "accuracy": [0.5, 0.7, 0.8],
    "loss": [1.5, 0.9, None],
    "val_accuracy": [0.55, 0.72, 0.79],
    "val_loss": [1.4, 1.0, 0.8],
}
ATTRS = {
    "epochs_run": 3,
    "best_epoch": 3,
    "param_count": 25_450,
    "train_seconds": 4.2,
    "device": "cpu",
    "worker_id": 0,
    "history": HISTORY,
}


def test_learning_curve_is_a_small_png(tmp_path: Path) -> None:
    # Its cost per trial is measured by bench/profile_trial.py, not asserted here: a loaded machine is slow.
    path = render_learning_curve(HISTORY, "trial 0", tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size < 100_000


def test_epochs_are_whole_numbers_even_for_a_trial_pruned_after_one_epoch() -> None:
    for epochs in (1, 2, 3, 15):
        history = {name: values[:1] * epochs for name, values in HISTORY.items()}
        for axes in learning_curve_figure(history, "trial 0").axes:
            low, high = axes.get_xlim()
            shown = [tick for tick in axes.get_xticks() if low <= tick <= high]
            assert shown and all(float(tick).is_integer() for tick in shown), (epochs, shown)
            assert low < 1 and high > epochs  # every epoch's point inside the axes
    one = learning_curve_figure({name: values[:1] for name, values in HISTORY.items()}, "trial 0")
    assert [tick for tick in one.axes[0].get_xticks() if 0.5 <= tick <= 1.5] == [1]


def test_the_figures_show_accuracy_in_percent() -> None:
    curve = learning_curve_figure(HISTORY, "trial 0")
    curve.canvas.draw()
    assert all(label.get_text().endswith("%") for label in curve.axes[0].get_yticklabels())
    assert not any(label.get_text().endswith("%") for label in curve.axes[1].get_yticklabels())  # loss is no accuracy
    layout = accuracy_vs_parameters([]).layout
    assert layout.yaxis.tickformat.endswith("%") and layout.yaxis.hoverformat == ".2%"  # the data stays fractions


def test_note_says_when_a_trial_was_pruned() -> None:
    note = trial_note(4, {**ATTRS, "epochs_run": 1}, max_epochs=15, pruned=True)
    assert "## Trial 4" in note and "25,450" in note and "1 of 15" in note and "pruned after epoch 1" in note
    assert "trained to the end" in trial_note(4, ATTRS, max_epochs=3, pruned=False)


def test_artifact_folder_sits_beside_a_sqlite_store(tmp_path: Path, monkeypatch) -> None:
    assert artifact_dir(f"sqlite:///{tmp_path}/studies.db") == tmp_path / "artifacts"
    assert artifact_dir("postgresql+psycopg2://u@h/db") is None  # a database server keeps them itself
    monkeypatch.setenv("FMNIST_ARTIFACTS", str(tmp_path / "shared"))
    assert artifact_dir(f"sqlite:///{tmp_path}/studies.db") == tmp_path / "shared"
    assert artifact_dir("postgresql+psycopg2://u@h/db", explicit="/x") == Path("/x")


def test_complete_and_pruned_trials_carry_a_curve_and_a_note(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    store = open_artifact_store(url)
    study = optuna.create_study(storage=open_storage(url), direction="maximize")

    def objective(trial: optuna.Trial) -> float:
        for key, value in ATTRS.items():
            trial.set_user_attr(key, value)
        pruned = trial.number == 1
        attach_trial_report(trial, store, max_epochs=3, pruned=pruned)  # while still RUNNING
        if pruned:
            trial.report(0.6, 1)
            raise optuna.TrialPruned
        return 0.79

    study.optimize(objective, n_trials=2)
    update_study_plots(study)
    system_attrs = study._storage.get_study_system_attrs(study._study_id)
    for trial in study.trials:
        artifacts = [value for key, value in trial.system_attrs.items() if key.startswith("artifacts:")]
        [meta] = [json.loads(a) for a in artifacts]
        # Kept under its own name, extension included, so the folder can be browsed.
        stored = tmp_path / "artifacts" / meta["artifact_id"] / "learning_curve.png"
        assert stored.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert store.open_reader(meta["artifact_id"]).read() == stored.read_bytes()
        body = get_note_from_system_attrs(system_attrs, trial._trial_id)["body"]
        assert f"## Trial {trial.number}" in body
        # The curve is shown inside the note, through optuna-dashboard's route for trial files.
        assert (
            "![learning curve: accuracy and loss per epoch]"
            f"(/artifacts/{study._study_id}/{trial._trial_id}/{meta['artifact_id']})" in body
        )
    assert "pruned after epoch" in get_note_from_system_attrs(system_attrs, study.trials[1]._trial_id)["body"]
    assert any(ACCURACY_VS_PARAMS_ID in key for key in system_attrs)


def test_the_metric_is_named_for_the_dashboard(tmp_path: Path) -> None:
    from search.study.settings import start_or_resume

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    start_or_resume(open_storage(url), "named", space="dense")
    assert optuna.load_study(study_name="named", storage=url).metric_names == ["val_accuracy"]


def test_files_written_before_names_were_kept_are_still_read_and_removed(tmp_path: Path) -> None:
    import io
    import uuid

    store = open_artifact_store(f"sqlite:///{tmp_path / 'studies.db'}")
    old = str(uuid.uuid4())
    (tmp_path / "artifacts" / old).write_bytes(b"old layout")
    assert store.open_reader(old).read() == b"old layout"
    store.remove(old)
    assert not (tmp_path / "artifacts" / old).exists()
    nameless = str(uuid.uuid4())
    store.write(nameless, io.BytesIO(b"from the dashboard"))  # an upload has no file name
    assert (tmp_path / "artifacts" / nameless / "artifact").read_bytes() == b"from the dashboard"
    for bad in ("../x", "/etc/passwd", "a/b"):
        try:
            store.open_reader(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
