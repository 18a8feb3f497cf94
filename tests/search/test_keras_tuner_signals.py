"""SIGTERM and Ctrl-C stop the KerasTuner engine like the Optuna workers: one line, its slot given back."""

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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_keras_tuner_and_gives_its_slot_back(tiny_data_dir, tmp_path: Path, signum: int) -> None:
    folder = tiny_data_dir(n_train=3000, n_test=20)
    url = f"sqlite:///{tmp_path / 'kt.db'}"
    command = [sys.executable, "-m", "search", "start", "--engine", "keras-tuner", "--space", "dense", "--trials", "40",
               "--epochs", "9", "--data-dir", str(folder), "--storage", url]  # fmt: skip
    parent = subprocess.Popen(
        command, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and parent.poll() is None:
        time.sleep(0.5)
        try:
            if optuna.load_study(study_name="dense", storage=open_storage(url)).get_trials(deepcopy=False):
                break  # one trial written: the next one is training now
        except KeyError:
            continue
    time.sleep(1.0)
    os.kill(parent.pid, signum)  # to the process alone, as `kill` or `docker stop` does
    sent = time.time()
    _, stderr = parent.communicate(timeout=120)
    assert time.time() - sent < 30
    assert parent.returncode == 128 + signum, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:") and "Traceback" not in stderr, stderr
    assert "KerasTuner trial was dropped" in lines[0] and "re-queued" not in lines[0]  # what it really does
    study = optuna.load_study(study_name="dense", storage=open_storage(url))
    written = study.get_trials(deepcopy=False)
    assert written and all(t.state == optuna.trial.TrialState.COMPLETE for t in written)
    assert Budget(url, "dense").state() == (40, len(written))  # the interrupted trial's slot came back
