"""Parallel work: device assignment, exact study-wide budgets, and no lost trial (kill, restart, Ctrl-C)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from search.engines.optuna.worker import WorkerJob
from search.runtime.devices import parse_gpus, worker_environment
from search.study.settings import count_finished, open_study, start_or_resume
from storage import open_storage
from storage.budget import Budget
from tests.stub_worker import run_stub_worker

State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[2]


def test_gpus_are_assigned_round_robin_with_a_fair_memory_share() -> None:
    envs = [worker_environment(i, 4, ["0", "1"], cpu_count=16) for i in range(4)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1", "0", "1"]
    assert {e["XLA_PYTHON_CLIENT_MEM_FRACTION"] for e in envs} == {"0.450"}
    assert all(e["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and e["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for e in envs)
    three_on_two = [worker_environment(i, 3, ["0", "1"], 16)["FMNIST_GPU_MEMORY_FRACTION"] for i in range(3)]
    assert three_on_two == ["0.450", "0.900", "0.450"]


def test_cpu_cores_are_split_fairly() -> None:
    threads = [int(worker_environment(i, 3, [], cpu_count=8)["TF_NUM_INTRAOP_THREADS"]) for i in range(3)]
    assert threads == [3, 3, 2] and sum(threads) == 8
    assert [worker_environment(i, 4, [], 2)["OMP_NUM_THREADS"] for i in range(4)] == ["1"] * 4
    assert "TF_NUM_INTRAOP_THREADS" not in worker_environment(0, 1, [], 8)  # alone: every core


def test_gpu_list_is_validated() -> None:
    assert parse_gpus("0, 2") == ["0", "2"]
    with pytest.raises(ValueError, match="--gpus"):
        parse_gpus("first")


def _new_study(url: str, n_trials: int, max_epochs: int = 3, pruner: str = "none") -> None:
    start_or_resume(open_storage(url), "par", space="dense", max_epochs=max_epochs, n_trials=n_trials, pruner=pruner)


def _run_processes(url: str, n: int, epoch_seconds: float) -> list[int | None]:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=run_stub_worker, args=(WorkerJob(url, "par", worker_id=i), epoch_seconds))
        for i in range(n)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    return [p.exitcode for p in processes]


def test_eight_processes_on_one_sqlite_file_end_with_exactly_the_budget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'par.db'}"
    _new_study(url, n_trials=24, pruner="hyperband")
    assert _run_processes(url, 8, epoch_seconds=0.01) == [0] * 8  # no "database is locked", no crash
    study, _ = open_study(open_storage(url), "par")
    states = [t.state for t in study.trials]
    assert count_finished(study) == 24 and State.FAIL not in states and State.RUNNING not in states
    assert Budget(url, "par").state() == (24, 24)
    assert len({t.user_attrs["worker_id"] for t in study.trials}) > 1  # the work really was shared


def test_two_workers_on_postgresql_through_a_server_restart(postgres_server, postgres_url: str) -> None:
    _new_study(postgres_url, n_trials=12, max_epochs=4)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=run_stub_worker, args=(WorkerJob(postgres_url, "par", worker_id=i), 0.25))
        for i in range(2)
    ]
    for process in processes:
        process.start()
    storage = open_storage(postgres_url)
    deadline = time.time() + 120
    while count_finished(optuna.load_study(study_name="par", storage=storage)) < 3 and time.time() < deadline:
        time.sleep(0.5)
    postgres_server.restart()  # mid-study: workers must reconnect and carry on
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0, 0]
    study, _ = open_study(open_storage(postgres_url), "par")
    assert count_finished(study) == 12
    assert not [t for t in study.trials if t.state == State.RUNNING]


def test_a_killed_worker_s_trial_is_retried_with_the_same_params(tmp_path: Path, monkeypatch) -> None:

    url = f"sqlite:///{tmp_path / 'kill.db'}"
    _new_study(url, n_trials=3, max_epochs=20)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FMNIST_HEARTBEAT_INTERVAL": "1", "FMNIST_GRACE_PERIOD": "2"}
    victim = subprocess.Popen([sys.executable, "-m", "tests.stub_worker", url, "par", "0", "0.3"], cwd=ROOT, env=env)
    storage = open_storage(url)
    deadline = time.time() + 60
    while time.time() < deadline:
        running = optuna.load_study(study_name="par", storage=storage).get_trials(states=(State.RUNNING,))
        if running and len(running[0].intermediate_values) >= 2:
            break
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed = running[0]
    time.sleep(3)  # past the grace period: the victim's heartbeat is stale
    monkeypatch.setenv("FMNIST_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("FMNIST_GRACE_PERIOD", "2")
    run_stub_worker(WorkerJob(url, "par", worker_id=1), 0.01)
    study, _ = open_study(open_storage(url), "par")
    assert study.trials[killed.number].state == State.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].params == killed.params and retries[0].state == State.COMPLETE
    assert count_finished(study) == 3 and not study.get_trials(states=(State.RUNNING, State.WAITING))


def test_timeout_stops_mid_trial_and_requeues_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    _new_study(url, n_trials=5, max_epochs=30)
    started = time.time()
    run_stub_worker(WorkerJob(url, "par", deadline=time.time() + 1.5), 0.1)
    assert time.time() - started < 5
    study, _ = open_study(open_storage(url), "par")
    cut = study.trials[0]
    assert cut.state == State.FAIL and len(cut.intermediate_values) < 30
    waiting = study.get_trials(states=(State.WAITING,))
    assert len(waiting) == 1 and waiting[0].system_attrs["fixed_params"] == cut.params
    assert Budget(url, "par").state() == (5, 0)  # the unfinished trial gave its slot back
    run_stub_worker(WorkerJob(url, "par"), 0.0)  # resuming runs the re-queued trial first
    study, _ = open_study(open_storage(url), "par")
    assert study.trials[1].params == cut.params and study.trials[1].state == State.COMPLETE
    assert count_finished(study) == 5
