"""A trial whose loss becomes NaN: marked as diverged, never a best, and nothing but JSON on a JSON log's stdout.

The real CLI on real data, with a space whose learning rate is far too high to train, for both
engines: the diverged trials must not be stored as complete models worth 10 %, must say why they
ended (pruned, with the ``diverged`` attribute the dashboard shows), must take their place in the
budget without stopping the run as a failure streak would, and must print nothing of Keras's own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search.engines.divergence import DIVERGED_ATTR
from storage import open_storage

ROOT = Path(__file__).resolve().parents[2]
State = optuna.trial.TrialState
# SGD at a learning rate of 10 (the highest a space allows) on selu layers: the loss is NaN within a few batches.
DIVERGING_SPACE = """
name = "diverging"
model = "dense"

[params]
n_layers = 2
units = 256
activation = "selu"
learning_rate = 10.0
optimizer = "sgd"
batch_size = 32
dropout = { type = "float", low = 0.0, high = 0.5 }
"""


@pytest.mark.parametrize("engine", ["optuna", "keras-tuner"])
def test_diverged_trials_are_marked_never_best_and_keep_the_json_log_clean(
    real_data_dir: Path, tmp_path: Path, engine: str
) -> None:
    space = tmp_path / "diverging.toml"
    space.write_text(DIVERGING_SPACE, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'nan.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FMNIST_ARTIFACTS": str(tmp_path / "artifacts")}
    run = subprocess.run(
        [sys.executable, "-m", "search", "start", "--space", str(space), "--study", "nan", "--engine", engine,
         "--trials", "4", "--epochs", "2", "--subset", "600", "--log-format", "json", "--storage", url,
         "--data-dir", str(real_data_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr  # 4 diverged trials in a row are no failure streak: the run ends
    events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]  # every line is JSON
    trials = [e for e in events if e["event"] == "trial"]
    assert len(trials) == 4 and all(e["state"] == "pruned" and "diverged" in e["reason"] for e in trials)
    assert "Invalid loss" not in run.stdout + run.stderr
    study = optuna.load_study(study_name="nan", storage=open_storage(url))
    assert len(study.trials) == 4 and not study.get_trials(states=(State.COMPLETE,))  # none can be the best
    for trial in study.trials:
        assert trial.state == State.PRUNED
        # In epoch 1, or in a later one where KerasTuner's Hyperband continued a trial.
        assert re.fullmatch(
            r"the training loss became NaN or infinite in epoch \d+ \(.*\)", trial.user_attrs[DIVERGED_ATTR]
        )
