"""Ctrl-C on `fmnist-search start --workers 2`: every process stops in seconds, running trials are re-queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from storage import StorageError, open_storage
from storage.budget import Budget

State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[2]


def _session_processes(session_id: int) -> list[str]:
    listing = subprocess.run(["ps", "-e", "-o", "pid=,sid=,args="], capture_output=True, text=True).stdout
    # A <defunct> entry has exited already; it only waits for a PID 1 that reaps (not every container has one).
    return [line for line in listing.splitlines() if line.split()[1] == str(session_id) and "<defunct>" not in line]


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_requeues_their_trials(real_data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    command = [
        sys.executable,
        "-m",
        "search",
        "start",
        "--space",
        "dense",
        "--study",
        "cc",
        "--workers",
        "2",
        "--trials",
        "6",
        "--epochs",
        "60",
        "--subset",
        "300",
        "--pruner",
        "none",
        "--storage",
        url,
        "--data-dir",
        str(real_data_dir),
    ]
    # A session of its own, like a terminal's foreground job: Ctrl-C goes to the whole group.
    parent = subprocess.Popen(
        command, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    storage = None
    deadline = time.time() + 180
    running: list[optuna.trial.FrozenTrial] = []
    while time.time() < deadline and parent.poll() is None:
        time.sleep(0.5)
        if not Path(tmp_path / "cc.db").exists():
            continue
        try:
            storage = storage or open_storage(url)
        except (StorageError, sqlalchemy.exc.SQLAlchemyError):
            continue  # the CLI is still creating the store's tables (seen: UNIQUE constraint on alembic_version)
        try:
            running = optuna.load_study(study_name="cc", storage=storage).get_trials(states=(State.RUNNING,))
        except KeyError:
            continue
        if len(running) == 2 and all(t.intermediate_values for t in running):
            break
    assert len(running) == 2, parent.communicate()
    os.killpg(parent.pid, signal.SIGINT)
    sent = time.time()
    _, stderr = parent.communicate(timeout=60)
    assert time.time() - sent < 15
    assert parent.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert _session_processes(parent.pid) == []  # no orphan worker

    study = optuna.load_study(study_name="cc", storage=open_storage(url))
    seen_running = [t for t in study.trials if t.number in {r.number for r in running}]
    # A trial seen running may still have finished in the moment before the signal landed.
    assert all(t.state in (State.FAIL, State.COMPLETE) for t in seen_running)
    interrupted = {t.number: t for t in seen_running if t.state == State.FAIL}
    assert interrupted
    # Besides the re-queued trials, only the space's known-good first points that no worker reached yet wait.
    waiting = [t for t in study.get_trials(states=(State.WAITING,)) if t.user_attrs != {"warm_start": "known-good"}]
    assert sorted(w.user_attrs["requeued_from"] for w in waiting) == sorted(interrupted)
    for w in waiting:
        assert w.system_attrs["fixed_params"] == interrupted[w.user_attrs["requeued_from"]].params
    finished = len(study.get_trials(states=(State.COMPLETE, State.PRUNED)))
    assert Budget(url, "cc").state() == (6, finished)  # interrupted trials gave their slots back
