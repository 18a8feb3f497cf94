"""A KerasTuner run killed outright mid-trial, then started again: the study still ends exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from storage import open_storage
from storage.budget import Budget

ROOT = Path(__file__).resolve().parents[2]
State = optuna.trial.TrialState
FAST_HEARTBEAT = {"FMNIST_HEARTBEAT_INTERVAL": "1", "FMNIST_GRACE_PERIOD": "3"}


def _start(url: str, folder: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "search", "start", "--engine", "keras-tuner", "--study", "kt",
               "--data-dir", str(folder), "--storage", url, *options]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), **FAST_HEARTBEAT}
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _written(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="kt", storage=open_storage(url)).get_trials(deepcopy=False)
    except KeyError:
        return []


@pytest.mark.slow
def test_a_keras_tuner_run_killed_mid_trial_and_started_again_ends_exact(tiny_data_dir, tmp_path: Path) -> None:
    folder = tiny_data_dir(n_train=3000, n_test=20)
    url = f"sqlite:///{tmp_path / 'kt.db'}"
    first = _start(url, folder, "--space", "dense", "--trials", "4", "--epochs", "9")
    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None and not _written(url):
        time.sleep(0.2)
    time.sleep(1.0)  # the next trial is training now
    assert first.poll() is None, first.communicate()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    before = len(_written(url))
    assert 1 <= before < 4
    assert Budget(url, "kt").state() == (4, before + 1)  # the killed trial's claim, held by no trial

    again = _start(url, folder)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert "finished 4/4" in stdout + stderr
    trials = _written(url)
    assert [t.state for t in trials] == [State.COMPLETE] * 4
    assert Budget(url, "kt").state() == (4, 4)  # no claim left dangling
