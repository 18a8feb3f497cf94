"""A PostgreSQL outage longer than the grace period costs no trial (real server, real worker processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna

from search.study.settings import FINISHED, start_or_resume
from storage import open_storage
from storage.budget import Budget

State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[2]
# The server stays down for OUTAGE_S, longer than the grace period: when it is back, every running
# trial's last heartbeat is older than the grace, though its worker is alive and waiting.
TIMINGS = {"FMNIST_HEARTBEAT_INTERVAL": "1", "FMNIST_GRACE_PERIOD": "4", "FMNIST_OUTAGE_SECONDS": "60"}
OUTAGE_S = 12


def test_workers_ride_out_an_outage_longer_than_the_grace_period(
    postgres_server, postgres_url: str, monkeypatch
) -> None:
    for name, value in TIMINGS.items():
        monkeypatch.setenv(name, value)
    start_or_resume(open_storage(postgres_url), "out", space="dense", max_epochs=6, n_trials=10, pruner="none")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-m", "tests.stub_worker", postgres_url, "out", str(i), "0.4"],
                         cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    storage = open_storage(postgres_url)
    deadline = time.time() + 60
    while len(optuna.load_study(study_name="out", storage=storage).get_trials(states=FINISHED)) < 2:
        assert time.time() < deadline, "no trial finished"
        time.sleep(0.2)
    storage.engine.dispose()
    postgres_server.stop()
    time.sleep(OUTAGE_S)
    postgres_server.start()
    errors = [worker.communicate(timeout=180)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], errors
    for stderr in errors:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert "Traceback" not in stderr and len(lines) <= 1, stderr  # at most one short line per worker
    assert any("the store is unreachable" in stderr for stderr in errors)  # the outage really was seen
    study = optuna.load_study(study_name="out", storage=open_storage(postgres_url))
    assert not study.get_trials(states=(State.FAIL, State.RUNNING, State.WAITING)), [t.state for t in study.trials]
    assert len(study.get_trials(states=FINISHED)) == 10 and Budget(postgres_url, "out").state() == (10, 10)
