"""A `start` killed outright while its worker processes are still starting: none of them outlives it.

The real CLI with real training (its workers import TensorFlow and Keras, which takes seconds),
in a session of its own; the parent is SIGKILLed at several points of its workers' start-up:
as soon as they exist (still unpickling their job), during their imports, and once they run.
"""

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

ROOT = Path(__file__).resolve().parents[2]
State = optuna.trial.TrialState
GONE_WITHIN_SECONDS = 15  # SIGTERM from the kernel, then at most one batch and a re-queue


def _session(session_id: int) -> list[str]:
    """The live processes of a session: pid, state and command line."""
    listing = subprocess.run(["ps", "-ww", "-e", "-o", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 3) for line in listing.splitlines()]
    return [" ".join(row) for row in rows if row[1] == str(session_id) and not row[2].startswith("Z")]


def _workers(session_id: int) -> list[str]:
    return [line for line in _session(session_id) if "spawn_main" in line]


@pytest.mark.slow
@pytest.mark.parametrize("seconds_after_workers_appear", [0.0, 2.0, 6.0])
def test_start_killed_while_its_workers_start_leaves_no_process(
    real_data_dir: Path, tmp_path: Path, seconds_after_workers_appear: float
) -> None:
    url = f"sqlite:///{tmp_path / 'orphans.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FMNIST_ARTIFACTS": str(tmp_path / "artifacts")}
    command = [sys.executable, "-m", "search", "start", "--space", "dense", "--study", "orphans", "--workers", "2",
               "--epochs", "20", "--subset", "3000", "--storage", url, "--data-dir", str(real_data_dir)]  # fmt: skip
    parent = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 60
        while len(_workers(parent.pid)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(_workers(parent.pid)) == 2, _session(parent.pid)
        time.sleep(seconds_after_workers_appear)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        gone_by = time.time() + GONE_WITHIN_SECONDS
        while _session(parent.pid) and time.time() < gone_by:
            time.sleep(0.2)
        assert _session(parent.pid) == []  # the workers and the resource tracker too
    finally:
        if _session(parent.pid):
            os.killpg(parent.pid, signal.SIGKILL)
    study = optuna.load_study(study_name="orphans", storage=open_storage(url))
    assert not study.get_trials(states=(State.RUNNING,))  # whatever started was failed and re-queued on the way
