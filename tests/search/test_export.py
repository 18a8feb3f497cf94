"""Export and final evaluation: the round trip on tiny data, saved models, the sealed test set, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna_dashboard._note import get_note_from_system_attrs

from search.data import loader as fmnist_data
from search.results.export import ExportConfig, file_sha256, read_config, train_model
from storage.exports import ExportLog
from tests.search.cli_helpers import assert_one_line_error, invoke

TINY_DENSE = {
    "n_layers": 1, "units": 16, "layer_shape": "constant", "activation": "relu", "dropout": 0.0,
    "batch_norm": False, "learning_rate": 0.01, "optimizer": "adam", "batch_size": 32, "l2": 0.0,
}  # fmt: skip


def tiny_config(**changes) -> ExportConfig:
    return ExportConfig(**{"model": "dense", "params": TINY_DENSE, "epochs": 1, "batch_size": 32, "seed": 5, **changes})


def test_export_load_evaluate_round_trip(tiny_data_dir, tmp_path: Path) -> None:
    folder = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    started = invoke(
        "start", "--space", "dense", "--trials", "1", "--epochs", "1", "--data-dir", str(folder), "--storage", url
    )
    assert started.exit_code == 0, started.output

    exported = invoke(
        "export",
        "--space",
        "dense",
        "--out",
        str(tmp_path),
        "--repeats",
        "2",
        "--data-dir",
        str(folder),
        "--storage",
        url,
    )
    assert exported.exit_code == 0, exported.output
    export_dir = tmp_path / "exports" / "dense-0"
    config = read_config(export_dir / "config.json")
    assert config.study == "dense" and config.trial_number == 0 and config.epochs == 1
    assert {"keras", "numpy", "python"} <= set(config.versions) and config.data_split[
        "split_seed"
    ] == fmnist_data.SPLIT_SEED
    assert {p.name for p in export_dir.glob("*.keras")} == {"model-0.keras", "model-1.keras"}
    [row] = ExportLog(url).exports()
    assert row["study_name"] == "dense" and row["trial_number"] == 0 and row["config_hash"] == config.config_hash
    assert "model-1.keras" in row["files"]

    evaluated = invoke("evaluate", str(export_dir), "--data-dir", str(folder), "--storage", url)
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((export_dir / "report.json").read_text())
    accuracy = report["test_accuracy"]
    assert 0.0 <= accuracy["mean"] <= 1.0 and len(accuracy["per_model"]) == 2
    # People read percent (JSON keeps the fraction): the message and summary.md alike.
    in_percent = f"{100 * accuracy['mean']:.2f} ± {100 * accuracy['std']:.2f} %"
    assert f"test accuracy {in_percent} over 2 model(s)" in evaluated.stdout
    assert "to trial 0 of study 'dense', in the dashboard" in evaluated.stdout
    assert evaluated.stdout.splitlines()[-1] == "see it with its trial: fmnist-search dashboard"
    assert f"test accuracy: **{in_percent}**" in (export_dir / "summary.md").read_text()
    assert accuracy["std"] == pytest.approx(np.std(accuracy["per_model"]))
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 2 * 30  # 30 tiny test images, two models
    assert [c["class"] for c in report["per_class"]] == list(fmnist_data.CLASS_NAMES)
    assert report["parameter_count"] > 0 and report["config_hash"] == config.config_hash
    for name in ("confusion_matrix.png", "learning_curves.png"):
        assert (export_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in (export_dir / "summary.md").read_text()

    # The dashboard shows the evaluation with the exported trial: study files and the trial's note.
    study = optuna.load_study(study_name="dense", storage=url)
    trial = study.trials[0]
    study_attrs = study._storage.get_study_system_attrs(study._study_id)
    artifacts = {
        a["filename"]: a for a in (json.loads(v) for k, v in study_attrs.items() if k.startswith("artifacts:"))
    }
    assert set(artifacts) == {"trial-0-confusion_matrix.png", "trial-0-summary.md"}
    for artifact in artifacts.values():
        assert (tmp_path / "artifacts" / artifact["artifact_id"] / artifact["filename"]).is_file()
    note = get_note_from_system_attrs(study_attrs, trial._trial_id)["body"]
    assert f"/artifacts/{study._study_id}/{artifacts['trial-0-confusion_matrix.png']['artifact_id']}" in note
    assert "## Trial 0" in note and "## Final evaluation (test set)" in note and in_percent in note

    # The config alone is enough to retrain, without the study.
    again = invoke(
        "export",
        "--from-config",
        str(export_dir / "config.json"),
        "--out",
        str(tmp_path / "b"),
        "--repeats",
        "1",
        "--data-dir",
        str(folder),
        "--storage",
        url,
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "exports" / "dense-0" / "model-0.keras").is_file()
    assert len(ExportLog(url).exports()) == 2


def test_exported_model_predicts_like_the_training_pipeline(tiny_data_dir, tmp_path: Path) -> None:
    import keras

    images, labels = fmnist_data.load_part("train", tiny_data_dir())
    model = train_model(tiny_config(), images, labels, repeat=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    raw = images[:20]
    assert raw.dtype == np.uint8
    expected = model.predict(raw, verbose=0)
    np.testing.assert_allclose(loaded.predict(raw, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # The training pipeline scales by 1/255 inside the model: feeding pre-scaled pixels would be wrong.
    assert not np.allclose(loaded.predict(raw.astype("float32") / 255.0, verbose=0), expected)


def test_start_and_worker_never_read_the_test_files(
    tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tiny_data_dir()
    for part in ("images", "labels"):
        (folder / f"{fmnist_data.FILES['test_' + part]}.gz").write_bytes(b"sealed: reading this is a bug")

    def sealed(*_args, **_kwargs):
        raise AssertionError("the search read the test set")

    original_load_part = fmnist_data.load_part

    def train_only(part: str, *args, **kwargs):
        if part != "train":
            sealed()
        return original_load_part(part, *args, **kwargs)

    monkeypatch.setattr(fmnist_data, "load_test", sealed)
    monkeypatch.setattr(fmnist_data, "load_part", train_only)
    url = f"sqlite:///{tmp_path / 's.db'}"
    started = invoke(
        "start", "--space", "dense", "--trials", "1", "--epochs", "1", "--data-dir", str(folder), "--storage", url
    )
    assert started.exit_code == 0 and "finished 1/1" in started.output, started.output
    from search.study.settings import open_study, start_or_resume
    from storage import open_storage

    start_or_resume(open_storage(url), "dense", n_trials=2)  # one more slot, for the worker to fill
    joined = invoke("worker", "--study", "dense", "--storage", url, "--data-dir", str(folder))
    assert joined.exit_code == 0, joined.output
    study, _ = open_study(open_storage(url), "dense")
    assert len([t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]) == 2
    assert study.trials[1].user_attrs["worker_id"] != 0  # the second trial was the joining worker's


def test_corrupt_model_and_config_are_one_line_errors(tiny_data_dir, tmp_path: Path) -> None:
    folder = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "config.json").write_text(tiny_config().to_json())
    (export_dir / "model-0.keras").write_bytes(b"PK\x03\x04 not a zip at all")
    # Recorded as the export's own model, so it gets past the hash check to the loading.
    recorded = {"model-0.keras": file_sha256(export_dir / "model-0.keras")}
    manifest = {"config_hash": tiny_config().config_hash, "model_sha256": recorded}
    (export_dir / "retrain.json").write_text(json.dumps(manifest))
    assert_one_line_error(
        invoke("evaluate", str(export_dir), "--data-dir", str(folder), "--storage", url), "model-0.keras", "cannot load"
    )

    (export_dir / "config.json").write_text('{"model": "dense", "params": ')
    result = invoke(
        "export", "--from-config", str(export_dir / "config.json"), "--data-dir", str(folder), "--storage", url
    )
    assert_one_line_error(result, "config.json", "corrupt")
    edited = json.loads(tiny_config().to_json())
    edited["epochs"] = 7
    (export_dir / "config.json").write_text(json.dumps(edited))
    assert_one_line_error(
        invoke("export", "--from-config", str(export_dir / "config.json"), "--storage", url), "config_hash"
    )


def test_something_that_is_not_an_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert_one_line_error(invoke("evaluate", str(tmp_path), "--storage", url), "not an export")
    (tmp_path / "notes.txt").write_text("hi")
    assert_one_line_error(invoke("evaluate", str(tmp_path / "notes.txt"), "--storage", url), "not an export")
    assert_one_line_error(invoke("evaluate", str(tmp_path / "missing"), "--storage", url), "does not exist")


def test_config_hash_is_canonical_and_bad_configs_are_refused() -> None:
    config = tiny_config()
    assert config.config_hash == tiny_config().config_hash
    assert config.config_hash != tiny_config(seed=6).config_hash
    from search.results.export import ExportError

    with pytest.raises(ExportError, match="epochs"):
        tiny_config(epochs=0)
    with pytest.raises(ExportError, match="params"):
        tiny_config(params={**TINY_DENSE, "units": "many"})


@pytest.mark.parametrize("name", ["dense-best.json", "cnn-best.json"])
def test_the_committed_best_configs_are_valid_exports(name: str) -> None:
    """exports/*-best.json come from the real searches; `export --from-config` must accept them as they are."""
    path = Path(__file__).resolve().parents[2] / "exports" / name
    config = read_config(path)  # refuses a hash that does not match the contents
    assert config.model == name.split("-")[0] and config.study is not None and config.validation_accuracy is not None
    assert config.epochs >= 1 and config.data_split["split_seed"] == fmnist_data.SPLIT_SEED


def test_an_export_is_written_whole_or_not_at_all(
    tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.results import export

    data = str(tiny_data_dir())
    target = tmp_path / "exports" / "dense-0"
    epochs_seen: list[tuple[int, int]] = []
    export.write_export(
        tiny_config(epochs=2), target, 2, data, listener=lambda repeat, done: epochs_seen.append((repeat, done))
    )
    assert epochs_seen == [(0, 1), (0, 2), (1, 1), (1, 2)]  # what the progress bar is driven by
    (target / "report.json").write_text("{}")  # an evaluation of these two models
    before = {path.name: path.read_bytes() for path in target.iterdir()}

    real_train = export.train_model

    def interrupted_at_the_second_model(config, images, labels, repeat, listener=None):
        if repeat == 1:
            raise KeyboardInterrupt  # Ctrl-C part-way through a re-export
        return real_train(config, images, labels, repeat, listener)

    monkeypatch.setattr(export, "train_model", interrupted_at_the_second_model)
    with pytest.raises(KeyboardInterrupt):
        export.write_export(tiny_config(seed=9), target, 2, data)
    assert {path.name: path.read_bytes() for path in target.iterdir()} == before
    assert [path.name for path in target.parent.iterdir()] == ["dense-0"]  # no staging folder left behind

    monkeypatch.setattr(export, "train_model", real_train)
    export.write_export(tiny_config(seed=9), target, 1, data)
    # A finished re-export replaces the folder: the old second model and its report go with it.
    assert sorted(path.name for path in target.iterdir()) == ["config.json", "model-0.keras", "retrain.json"]
    assert read_config(target / "config.json").seed == 9
