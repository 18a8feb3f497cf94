"""The keras-tuner engine: KerasTuner's trials land in the SQL store as complete Optuna trials; bad options fail
in one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import optuna
import pytest

from search.engines.keras_tuner.engine import (
    EngineError,
    FitRecord,
    check_engine_options,
    full_history,
    optuna_params,
    trial_attrs,
)
from search.engines.record import history_of
from spaces.space import load_space
from tests.search.cli_helpers import assert_one_line_error, invoke


def test_keras_tuner_trials_are_complete_optuna_trials_that_status_and_export_read(
    tiny_data_dir, tmp_path: Path
) -> None:
    folder = tiny_data_dir(n_train=200, n_test=20)
    db = tmp_path / "kt.db"
    url = f"sqlite:///{db}"
    result = invoke("start", "--engine", "keras-tuner", "--space", "dense", "--trials", "3", "--epochs", "2",
                    "--data-dir", str(folder), "--storage", url, "--seed", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "KerasTuner Hyperband" in result.output and "finished 3/3" in result.output

    study = optuna.load_study(study_name="dense", storage=url)
    trials = study.get_trials()
    assert len(trials) == 3
    space = load_space("dense")
    for trial in trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert set(trial.params) == set(space.searched)
        # The same distributions the Optuna objective records for this space.
        assert trial.distributions["units"] == optuna.distributions.IntDistribution(64, 1024, log=True)
        assert trial.distributions["batch_norm"] == optuna.distributions.CategoricalDistribution([False, True])
        attrs = trial.user_attrs
        assert attrs["engine"] == "keras-tuner"
        assert {"epochs_run", "best_epoch", "param_count", "train_seconds", "worker_id", "device"} <= set(attrs)
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(1, attrs["epochs_run"] + 1)) and steps
        assert trial.value == pytest.approx(max(trial.intermediate_values.values()))
        assert history_of(trial)["val_accuracy"][attrs["best_epoch"] - 1] == pytest.approx(trial.value)

    with sqlite3.connect(db) as connection:  # the budget is the study's, as for Optuna workers
        assert connection.execute("SELECT n_trials, claimed FROM fmnist_budgets").fetchone() == (3, 3)

    detail = invoke("status", "--study", "dense", "--storage", url)
    assert detail.exit_code == 0 and "best trials" in detail.output and "learning_rate" in detail.output
    exported = invoke("export", "--study", "dense", "--out", str(tmp_path), "--repeats", "1",
                      "--data-dir", str(folder), "--storage", url)  # fmt: skip
    assert exported.exit_code == 0, exported.output
    [config_file] = (tmp_path / "exports").glob("dense-*/config.json")
    assert json.loads(config_file.read_text())["params"]["units"] == study.best_trial.params["units"]

    # Resuming with the budget spent writes nothing more.
    again = invoke("start", "--engine", "keras-tuner", "--study", "dense", "--storage", url, "--data-dir", str(folder))
    assert again.exit_code == 0, again.output
    assert len(optuna.load_study(study_name="dense", storage=url).get_trials()) == 3


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--workers", "2"), "--workers"),
        (("--pruner", "median"), "--pruner"),
        (("--sampler", "random"), "--sampler"),
        (("--warm-start", "seeds"), "--warm-start"),
    ],
)
def test_unsupported_keras_tuner_options_are_one_line_errors(
    tmp_path: Path, extra: tuple[str, ...], fragment: str
) -> None:
    db = tmp_path / "x.db"
    result = invoke("start", "--engine", "keras-tuner", "--space", "dense", "--storage", f"sqlite:///{db}", *extra)
    assert_one_line_error(result, "keras-tuner", fragment)
    assert not db.exists()


def test_unknown_engine_is_refused_by_the_cli(tmp_path: Path) -> None:
    result = invoke("start", "--engine", "ray", "--space", "dense", "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert_one_line_error(result, "ray")


def test_check_engine_options() -> None:
    check_engine_options("optuna", workers=4, sampler="gp", pruner="none")
    check_engine_options("keras-tuner", workers=1, sampler=None, pruner=None)
    with pytest.raises(EngineError, match="engine must be one of"):
        check_engine_options("ray", workers=1, sampler=None, pruner=None)


def test_optuna_params_keep_only_searched_keys_with_their_distributions() -> None:
    space = load_space("dense")
    values = {"n_layers": 2, "units": 128, "layer_shape": "funnel", "activation": "relu", "dropout": 0.1,
              "batch_norm": True, "learning_rate": 1e-3, "optimizer": "adam", "batch_size": 64, "l2": 1e-5,
              "translate": 2, "flip": True, "cutout": 8, "lr_schedule": "one_cycle", "label_smoothing": 0.1,
              "tuner/epochs": 3, "tuner/initial_epoch": 1}  # fmt: skip
    params, distributions = optuna_params(space, values)
    assert "tuner/epochs" not in params and set(params) == set(distributions) == set(space.searched)
    for name, value in params.items():
        assert distributions[name]._contains(distributions[name].to_internal_repr(value))


def test_a_continued_trial_carries_its_curve_from_epoch_one() -> None:
    earlier = {
        "accuracy": [0.5, 0.6, 0.7],
        "loss": [1.0, 0.9, 0.8],
        "val_accuracy": [0.4, 0.55, 0.6],
        "val_loss": [1.1, 1.0, 0.9],
    }
    record = FitRecord(initial_epoch=2)
    record.history = {"accuracy": [0.8], "loss": [0.7], "val_accuracy": [0.7], "val_loss": [0.8]}
    history = full_history(record, earlier)
    assert history["val_accuracy"] == [0.4, 0.55, 0.7]
    attrs = trial_attrs(record, history, 7, "cpu", "run/0003")
    assert (attrs["epochs_run"], attrs["best_epoch"], attrs["epochs_trained"], attrs["worker_id"]) == (3, 3, 1, 7)
    fresh = FitRecord()
    fresh.history = dict(earlier)
    assert full_history(fresh, None) is fresh.history


def test_a_failed_keras_tuner_trial_is_reported_in_one_line_whatever_its_message() -> None:
    from search.engines.keras_tuner.engine import _last_line
    from search.engines.record import one_line

    assert (
        _last_line("Traceback (most recent call last):\n  File 'x'\nValueError: bad units\n") == "ValueError: bad units"
    )
    assert _last_line("") == _last_line(None) == _last_line(" \n ") == "unknown reason"
    assert one_line(RuntimeError("")) == "RuntimeError" and one_line(ValueError("a\nb")) == "ValueError: a"
