"""The training recipe in the search: a schedule spans the study's max epochs, export repeats it, old studies
still load.

How a schedule meets pruning is decided in spaces/schedules.py: it spans the study's maximum
epochs, so a trial's first k epochs do not depend on whether it is stopped at k; the export
retrains for the trial's best epoch under that same schedule.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from search.runtime.quiet import import_keras

keras = import_keras()

from search.data.loader import TrainValData  # noqa: E402
from search.engines.optuna import objective  # noqa: E402
from search.engines.optuna.objective import TrainingContext, train_trial  # noqa: E402
from search.engines.record import history_of  # noqa: E402
from search.results.export import ExportConfig, read_config, train_model  # noqa: E402
from spaces import Fixed, Space  # noqa: E402
from spaces.families import LATER_KEYS, defaults  # noqa: E402
from spaces.schedules import ScheduleSpan, learning_rate  # noqa: E402
from tests.search.cli_helpers import invoke  # noqa: E402

TINY = {"n_layers": 1, "units": 8, "layer_shape": "constant", "batch_size": 20, "learning_rate": 0.01, "dropout": 0.0}
RECIPE = {"lr_schedule": "cosine", "translate": 1, "flip": True, "cutout": 6, "label_smoothing": 0.1}
# The built-in dense space as it was before the recipe keys (commit 029f817): an old study's stored space.
OLD_DENSE = """name = "dense"
model = "dense"
[params]
n_layers = { type = "int", low = 1, high = 2 }
units = { type = "int", low = 8, high = 32, log = true }
activation = { type = "choice", choices = ["relu", "tanh"] }
learning_rate = { type = "float", low = 1e-3, high = 3e-2, log = true }
batch_size = { type = "choice", choices = [32, 64] }
l2 = { type = "float", low = 1e-7, high = 1e-3, log = true }
"""


def tiny_data(n_train: int = 100, n_val: int = 40) -> TrainValData:
    rng = np.random.default_rng(0)
    y_train, y_val = np.arange(n_train) % 10, np.arange(n_val) % 10
    image = lambda y: np.clip(rng.normal(y[:, None, None] * 25, 20, (len(y), 28, 28)), 0, 255).astype("uint8")  # noqa: E731
    return TrainValData(image(y_train), y_train, image(y_val), y_val)


def fixed_space(**params) -> Space:
    full = {**defaults("dense"), **TINY, **params}
    return Space(name="fixed", model="dense", params={k: Fixed(k, v) for k, v in full.items()})


def test_a_pruned_trial_ran_the_first_epochs_of_the_full_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pruned after epoch 1 of 3 or trained to the end: the same span, the same first epoch."""
    built = []

    def spy(model, params, span=None, compile_options=None):
        net = build_model(model, params, span, compile_options)
        built.append((span, net))
        return net

    from spaces.builders import build_model

    monkeypatch.setattr(objective, "build_model", spy)
    data, space = tiny_data(), fixed_space(**RECIPE)
    context = TrainingContext(data, max_epochs=3, seed=0)
    histories, states = [], []
    for pruner in (
        optuna.pruners.ThresholdPruner(lower=2.0),
        optuna.pruners.NopPruner(),
    ):  # prunes everything / nothing
        study = optuna.create_study(direction="maximize", pruner=pruner)
        study.optimize(lambda t: train_trial(t, space, context), n_trials=1)
        histories.append(history_of(study.trials[0]))
        states.append(study.trials[0].state)
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert [len(h["val_loss"]) for h in histories] == [1, 3]
    assert [span for span, _ in built] == [ScheduleSpan(3, len(data.x_train))] * 2
    for name in ("loss", "val_loss", "val_accuracy"):  # epoch 1 did not know whether a prune would follow
        assert histories[0][name][0] == pytest.approx(histories[1][name][0], rel=1e-5)
    (span, pruned), (_, finished) = built
    steps = span.steps_per_epoch(TINY["batch_size"])
    schedule = learning_rate({**TINY, **RECIPE}, span)
    assert int(pruned.optimizer.iterations) == steps and int(finished.optimizer.iterations) == 3 * steps
    # The pruned trial stopped at the top of its schedule, not annealed as if 1 epoch were all it had.
    assert (
        float(pruned.optimizer.learning_rate) == pytest.approx(float(schedule(steps)))
        and float(schedule(steps)) > 0.5 * TINY["learning_rate"]
    )


def test_export_retrains_the_trials_schedule_and_stops_at_its_best_epoch() -> None:
    images, labels = tiny_data().x_train, tiny_data().y_train
    params = {**defaults("dense"), **TINY, **RECIPE}
    config = ExportConfig(
        model="dense", params=params, epochs=1, schedule_epochs=3, batch_size=TINY["batch_size"], seed=0
    )
    model = train_model(config, images, labels, repeat=0)
    span = ScheduleSpan(3, len(images))
    steps = span.steps_per_epoch(TINY["batch_size"])
    assert int(model.optimizer.iterations) == steps
    assert float(model.optimizer.learning_rate) == pytest.approx(float(learning_rate(params, span)(steps)))
    assert read_config_roundtrip(config).schedule_epochs == 3
    with pytest.raises(Exception, match="schedule_epochs must be an integer of at least epochs=2"):
        ExportConfig(model="dense", params=params, epochs=2, schedule_epochs=1, batch_size=20, seed=0)


def read_config_roundtrip(config: ExportConfig) -> ExportConfig:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(config.to_json())
        return read_config(path)


def test_an_export_records_the_studys_max_epochs_as_the_schedules_span(tiny_data_dir, tmp_path: Path) -> None:
    folder = tiny_data_dir(n_train=200, n_test=20)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    space = tmp_path / "recipe.toml"
    space.write_text(
        'model = "dense"\n[params]\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in {**TINY, **RECIPE}.items())
    )
    common = ("--data-dir", str(folder), "--storage", url)
    assert (
        invoke(
            "start",
            "--space",
            str(space),
            "--study",
            "recipe",
            "--trials",
            "1",
            "--epochs",
            "3",
            "--pruner",
            "none",
            *common,
        ).exit_code
        == 0
    )
    trial = optuna.load_study(study_name="recipe", storage=url).best_trial
    exported = invoke("export", "--study", "recipe", "--repeats", "1", "--out", str(tmp_path), *common)
    assert exported.exit_code == 0, exported.output
    config = read_config(tmp_path / "exports" / f"recipe-{trial.number}" / "config.json")
    assert config.schedule_epochs == 3 and config.epochs == trial.user_attrs["best_epoch"]
    assert {k: config.params[k] for k in RECIPE} == RECIPE
    evaluated = invoke("evaluate", str(tmp_path / "exports" / f"recipe-{trial.number}"), *common)
    assert evaluated.exit_code == 0, evaluated.output


def test_a_study_and_a_config_from_before_the_recipe_still_load(tiny_data_dir, tmp_path: Path) -> None:
    """Trials stored without the recipe keys are exported, shown and warm-started with the recipe off."""
    folder = tiny_data_dir(n_train=200, n_test=20)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    common = ("--data-dir", str(folder), "--storage", url)
    old_space = tmp_path / "dense.toml"
    old_space.write_text(OLD_DENSE)
    assert (
        invoke(
            "start", "--space", str(old_space), "--study", "old", "--trials", "1", "--epochs", "1", *common
        ).exit_code
        == 0
    )
    study = optuna.load_study(study_name="old", storage=url)
    assert not set(LATER_KEYS) & set(study.trials[0].params)  # as a trial stored before the recipe

    assert invoke("status", "--study", "old", "--storage", url).exit_code == 0
    resumed = invoke("start", "--study", "old", "--trials", "2", "--warm-start", "seeds", *common)
    assert resumed.exit_code == 0, resumed.output
    exported = invoke("export", "--study", "old", "--repeats", "1", "--out", str(tmp_path), *common)
    assert exported.exit_code == 0, exported.output
    [config_path] = (tmp_path / "exports").glob("old-*/config.json")
    config = read_config(config_path)
    assert {k: config.params[k] for k in ("translate", "flip", "cutout", "lr_schedule", "label_smoothing")} == {
        "translate": 0, "flip": False, "cutout": 0, "lr_schedule": "constant", "label_smoothing": 0.0,
    }  # fmt: skip

    # A config.json written before the recipe: no schedule_epochs, params without the keys, its own hash.
    data = json.loads(config_path.read_text())
    del data["config_hash"], data["schedule_epochs"]
    data["params"] = {k: v for k, v in data["params"].items() if k not in LATER_KEYS}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    old_config = tmp_path / "old-config.json"
    old_config.write_text(json.dumps({**data, "config_hash": hashlib.sha256(canonical.encode()).hexdigest()}))
    loaded = read_config(old_config)  # the hash still matches: nothing was added to what it covers
    assert loaded.schedule_span_epochs == loaded.epochs and loaded.full_params["lr_schedule"] == "constant"
    retrained = invoke(
        "export",
        "--from-config",
        str(old_config),
        "--repeats",
        "1",
        "--out",
        str(tmp_path / "again"),
        "--data-dir",
        str(folder),
    )
    assert retrained.exit_code == 0, retrained.output


def test_keras_tuner_trains_the_recipe_and_resumes_a_promoted_trials_schedule(
    tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.engines.keras_tuner import tuner as keras_tuner_engine
    from spaces import schedules

    calls = []

    def resume(model, epoch, span, batch_size) -> None:
        calls.append((epoch, span))
        schedules.resume_at_epoch(model, epoch, span, batch_size)

    monkeypatch.setattr(keras_tuner_engine, "resume_at_epoch", resume)
    folder = tiny_data_dir(n_train=200, n_test=20)
    url = f"sqlite:///{tmp_path / 'kt.db'}"
    space = tmp_path / "recipe.toml"
    declared = {**TINY, **RECIPE, "lr_schedule": ["cosine", "one_cycle"], "units": [8, 12, 16]}
    space.write_text('model = "dense"\n[params]\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in declared.items()))
    result = invoke("start", "--engine", "keras-tuner", "--space", str(space), "--study", "kt", "--epochs", "3",
                    "--trials", "4", "--data-dir", str(folder), "--storage", url)  # fmt: skip
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="kt", storage=url).get_trials()
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert calls and all(span.epochs == 3 for _, span in calls)  # every fit spans the study's max epochs
    assert any(epoch > 0 for epoch, _ in calls)  # Hyperband continued a trial, and its schedule went on from there
