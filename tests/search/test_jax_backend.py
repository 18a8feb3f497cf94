"""KERAS_BACKEND=jax end to end through the real command line: search (two workers, pruning), export, evaluate,
baselines.

The test process itself runs TensorFlow (conftest); the JAX runs are child processes, as a user
would start them. Skipped, saying why, where jax is not installed. A fast check of a JAX worker's
environment is in test_devices.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from storage import open_storage

ROOT = Path(__file__).resolve().parents[2]
State = optuna.trial.TrialState


def _jax_missing() -> bool:
    return subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0


pytestmark = [
    pytest.mark.skipif(_jax_missing(), reason="jax is not installed: pip install -e '.[jax]'"),
    pytest.mark.slow,  # 90 s on 2 cores: four commands, each importing Keras and JAX
]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "search", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # No TensorFlow/XLA C++ banner, no absl warning: whatever reaches stderr is ours.
    assert "I0000" not in run.stderr and "absl::InitializeLog" not in run.stderr and "cuda" not in run.stderr.lower(), (
        run.stderr
    )
    return run


def test_search_export_evaluate_and_baselines_run_under_jax(tiny_data_dir, tmp_path: Path) -> None:
    data = tiny_data_dir(n_train=600, n_test=60)
    url = f"sqlite:///{tmp_path / 'jax.db'}"
    env = os.environ | {"KERAS_BACKEND": "jax", "FMNIST_ARTIFACTS": str(tmp_path / "artifacts"), "COLUMNS": "120"}
    common = ("--data-dir", str(data), "--storage", url)

    # Two workers, Hyperband over 3 epochs: with 9 trials some must be stopped at an earlier rung.
    # Plain TPE and no enqueued first trials: the known-good ones are never pruned, and JAX's early stop is
    # what is tested.
    _cli("start", "--space", "dense", "--workers", "2", "--trials", "9", "--epochs", "3", "--subset", "300",
         "--sampler", "tpe", "--warm-start", "none", *common, env=env)  # fmt: skip
    study = optuna.load_study(study_name="dense", storage=open_storage(url))
    states = [t.state for t in study.trials]
    assert states.count(State.COMPLETE) + states.count(State.PRUNED) == 9 and State.FAIL not in states
    pruned = [t for t in study.trials if t.state == State.PRUNED]
    assert pruned and all(t.user_attrs["epochs_run"] < 3 for t in pruned)  # JAX's fit really stopped early
    assert {t.user_attrs["device"] for t in study.trials} <= {"cpu (jax)", "cpu x1 (jax)", "cpu x2 (jax)"}
    assert {t.user_attrs["worker_id"] for t in study.trials} == {0, 1}

    _cli("export", "--space", "dense", "--repeats", "1", "--out", str(tmp_path), *common, env=env)
    folder = tmp_path / "exports" / f"dense-{study.best_trial.number}"
    config = json.loads((folder / "config.json").read_text())
    assert config["versions"]["keras_backend"] == "jax" and config["versions"]["jax"] != "not installed"

    _cli("evaluate", str(folder), *common, env=env)
    report = json.loads((folder / "report.json").read_text())
    assert report["test_images"] == 60 and 0.0 <= report["test_accuracy"]["mean"] <= 1.0

    _cli("baselines", "--only", "s004-cnn", "--max-epochs", "1", "--out", str(tmp_path), *common, env=env)
    assert (tmp_path / "exports" / "baselines" / "s004-cnn" / "report.json").is_file()


def test_keras_backend_reaches_a_lone_worker_and_tensorflow_is_the_default(tiny_data_dir, tmp_path: Path) -> None:
    """KERAS_BACKEND=jax: even a lone worker (which would otherwise run in the CLI's process)
    trains under JAX, in a process of its own; without it, TensorFlow."""
    data = tiny_data_dir(n_train=600, n_test=60)
    url = f"sqlite:///{tmp_path / 'auto.db'}"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | {
        "FMNIST_ARTIFACTS": str(tmp_path / "artifacts"),
        "COLUMNS": "200",
    }
    common = (
        "--trials",
        "1",
        "--epochs",
        "1",
        "--subset",
        "300",
        "--data-dir",
        str(data),
        "--storage",
        url,
        "--log-format",
        "text",
    )
    default = _cli("start", "--space", "dense", *common, env=env)
    assert "backend tensorflow (the default)" in default.stdout
    [trial] = optuna.load_study(study_name="dense", storage=open_storage(url)).trials
    assert trial.state == State.COMPLETE and trial.user_attrs["device"] == "cpu (tensorflow)"

    pinned = _cli("start", "--space", "dense", "--study", "pinned", *common, env=env | {"KERAS_BACKEND": "jax"})
    assert "backend jax (KERAS_BACKEND)" in pinned.stdout
    [trial] = optuna.load_study(study_name="pinned", storage=open_storage(url)).trials
    assert trial.state == State.COMPLETE and trial.user_attrs["device"] == "cpu (jax)"
