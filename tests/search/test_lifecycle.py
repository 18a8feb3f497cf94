"""The worker lifecycle under kills and resumes: a run ends exact by itself, and never repeats a trial.

Real worker processes (the stub trainer: the store, budget, heartbeats, pruning and re-queueing
stay real), real signals, small heartbeat and grace periods.
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

from search.engines.coordinator import FAIL_REASON_ATTR, recover_dead_trials
from search.engines.optuna.worker import WorkerJob, run_worker
from search.study.settings import FINISHED, open_study, start_or_resume
from storage import open_storage
from storage.budget import Budget
from tests.stub_worker import run_stub_worker

State = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[2]
STUB_FACTORY = "tests.stub_worker:factory_from_env"  # bench/with_objective.py: the real CLI, stub training
FAST_HEARTBEAT = {"FMNIST_HEARTBEAT_INTERVAL": "1", "FMNIST_GRACE_PERIOD": "3"}


def _stub_worker(url: str, worker_id: int, epoch_seconds: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **FAST_HEARTBEAT}
    command = [sys.executable, "-m", "tests.stub_worker", url, "life", str(worker_id), str(epoch_seconds)]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _wait_for_running(url: str, worker_id: int, epochs: int = 2, timeout: float = 60) -> optuna.trial.FrozenTrial:
    """The trial ``worker_id`` runs, once it has reported ``epochs`` epochs."""
    storage = open_storage(url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        for trial in optuna.load_study(study_name="life", storage=storage).get_trials(states=(State.RUNNING,)):
            if trial.user_attrs.get("worker_id") == worker_id and len(trial.intermediate_values) >= epochs:
                return trial
        time.sleep(0.1)
    raise AssertionError(f"worker {worker_id} never ran a trial")


def _assert_exact(url: str, n_trials: int, killed: optuna.trial.FrozenTrial) -> optuna.Study:
    study, _ = open_study(open_storage(url), "life")
    assert len(study.get_trials(states=FINISHED)) == n_trials
    assert not study.get_trials(states=(State.RUNNING, State.WAITING))
    assert study.trials[killed.number].state == State.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].params == killed.params and retries[0].state in FINISHED
    assert Budget(url, "life").state() == (n_trials, n_trials)
    return study


def _kill_mid_trial(
    url: str, n_trials: int, monkeypatch, sibling: bool = False
) -> tuple[optuna.trial.FrozenTrial, subprocess.Popen[bytes] | None]:
    """A study of ``n_trials`` whose worker 0 is SIGKILLed mid-trial (beside a faster worker 1 if ``sibling``)."""
    for name, value in FAST_HEARTBEAT.items():
        monkeypatch.setenv(name, value)
    start_or_resume(open_storage(url), "life", space="dense", max_epochs=8, n_trials=n_trials, pruner="none")
    victim = _stub_worker(url, 0, 0.3)
    other = _stub_worker(url, 1, 0.05) if sibling else None
    killed = _wait_for_running(url, 0)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    return killed, other


def test_a_worker_killed_while_its_sibling_finishes_the_budget(tmp_path: Path, monkeypatch) -> None:
    # The sibling must not stop at "budget fully claimed": one claim is the dead worker's trial.
    url = f"sqlite:///{tmp_path / 'life.db'}"
    killed, sibling = _kill_mid_trial(url, 6, monkeypatch, sibling=True)
    assert sibling is not None and sibling.wait(timeout=90) == 0
    _assert_exact(url, 6, killed)


def test_a_lone_worker_killed_and_its_study_started_again(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    killed, _ = _kill_mid_trial(url, 1, monkeypatch)
    time.sleep(4)  # past the grace period, as in "wait 100 s" with the default one
    start_or_resume(open_storage(url), "life")  # `start --study life` (search/engines/launch.py)...
    study, _ = open_study(open_storage(url), "life")
    recover_dead_trials(study)  # ...then fails the stale trial at once
    assert study.trials[killed.number].state == State.FAIL
    assert run_stub_worker(WorkerJob(url, "life"), 0.01) == 1
    _assert_exact(url, 1, killed)


def test_a_restart_within_the_grace_period_waits_for_the_dead_trial(tmp_path: Path, monkeypatch) -> None:
    # Started again before the dead trial is stale: the worker waits, then fails and re-runs it.
    url = f"sqlite:///{tmp_path / 'life.db'}"
    killed, _ = _kill_mid_trial(url, 1, monkeypatch)
    start_or_resume(open_storage(url), "life")
    started = time.time()
    assert run_stub_worker(WorkerJob(url, "life"), 0.01) == 1
    assert time.time() - started < 30
    _assert_exact(url, 1, killed)


def _param_sets(url: str) -> list[tuple]:
    study, _ = open_study(open_storage(url), "life")
    return [tuple(sorted(t.params.items())) for t in study.trials if "failed_trial" not in t.system_attrs]


def test_a_resumed_study_draws_new_params(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    start_or_resume(open_storage(url), "life", space="dense", max_epochs=1, n_trials=3, pruner="none", seed=3)
    run_stub_worker(WorkerJob(url, "life"), 0.0)
    for n_trials in (6, 9):  # resumed twice, as `start --study life --trials N` does
        start_or_resume(open_storage(url), "life", n_trials=n_trials)
        run_stub_worker(WorkerJob(url, "life"), 0.0)
    drawn = _param_sets(url)
    assert len(drawn) == 9 and len(set(drawn)) == 9


def test_concurrent_starts_of_one_study_draw_different_params(tmp_path: Path) -> None:
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'life.db'}"
    start_or_resume(open_storage(url), "life", space="dense", max_epochs=1, n_trials=12, pruner="none")
    context = multiprocessing.get_context("spawn")
    # Six runs, each with its worker 0, as six `start --study life` would be.
    processes = [context.Process(target=run_stub_worker, args=(WorkerJob(url, "life"), 0.05)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * 6
    drawn = _param_sets(url)
    assert len(drawn) == 12 and len(set(drawn)) == 12


# ---------------------------------------------------------------- `start` and its worker processes


def _start(url: str, data_dir: Path, *options: str, **env: str) -> subprocess.Popen[str]:
    """`fmnist-search start` with stub training in its workers, in a session of its own (as from a terminal)."""
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **FAST_HEARTBEAT,
        "FMNIST_STUB_EPOCH_SECONDS": "0.3",
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "bench.with_objective",
        STUB_FACTORY,
        "start",
        "--space",
        "dense",
        "--study",
        "life",
        "--epochs",
        "8",
        "--pruner",
        "none",
        "--storage",
        url,
        "--data-dir",
        str(data_dir),
        *options,
    ]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _session_processes(session_id: int) -> list[str]:
    listing = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    return [
        line
        for line in listing.splitlines()
        if line.split()[1] == str(session_id) and not line.split()[2].startswith("Z")
    ]


def _wait_for_trials(url: str, count: int, timeout: float = 90) -> list[optuna.trial.FrozenTrial]:
    """Once ``count`` trials are running and have reported an epoch."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            running = optuna.load_study(study_name="life", storage=open_storage(url)).get_trials(
                states=(State.RUNNING,)
            )
        except KeyError:
            continue
        if len(running) >= count and all(t.intermediate_values for t in running):
            return running
    raise AssertionError(f"{count} trials never ran")


def _assert_requeued(url: str, interrupted: list[optuna.trial.FrozenTrial]) -> None:
    study = optuna.load_study(study_name="life", storage=open_storage(url))
    assert not study.get_trials(states=(State.RUNNING,))
    assert {study.trials[t.number].state for t in interrupted} == {State.FAIL}
    waiting = [t for t in study.trials if t.state == State.WAITING]
    # Besides the re-queued trials, only the space's known-good first points that no worker reached yet wait.
    unstarted = [
        t for t in waiting if t.user_attrs == {"warm_start": "known-good"} and not t.system_attrs.get("failed_trial")
    ]
    again = [t.system_attrs["fixed_params"] for t in waiting if t not in unstarted]
    assert sorted(map(repr, again)) == sorted(repr(t.params) for t in interrupted)


def test_start_killed_outright_leaves_no_worker_behind(real_data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    parent = _start(url, real_data_dir, "--workers", "2")  # no --trials: its workers would never stop
    running = _wait_for_trials(url, 2)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.time() + 15
    while _session_processes(parent.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _session_processes(parent.pid) == []  # the workers died with their parent...
    _assert_requeued(url, running)  # ...and re-queued their trials on the way


def test_sigterm_to_start_is_handled_like_ctrl_c(real_data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    parent = _start(url, real_data_dir, "--workers", "2", "--trials", "20")
    running = _wait_for_trials(url, 2)
    os.kill(parent.pid, signal.SIGTERM)  # to the parent alone, as `kill PID` or `docker stop` does
    _, stderr = parent.communicate(timeout=30)
    assert parent.returncode == 143, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert _session_processes(parent.pid) == []
    _assert_requeued(url, running)


def test_a_worker_killed_during_start_is_named_and_its_trial_rerun(real_data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    parent = _start(url, real_data_dir, "--workers", "2", "--trials", "6")
    running = _wait_for_trials(url, 2)
    victim = running[0]
    pid = int(victim.user_attrs["worker_process"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = parent.communicate(timeout=120)
    assert parent.returncode == 1
    assert f"was killed by SIGKILL; its trial {victim.number} was re-queued" in stderr, stderr
    assert "see its message above" not in stderr and "Traceback" not in stderr
    study = optuna.load_study(study_name="life", storage=open_storage(url))
    assert len(study.get_trials(states=FINISHED)) == 6 and not study.get_trials(states=(State.RUNNING, State.WAITING))
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params and retries[0].state in FINISHED
    # The dashboard shows why the trial failed, and its re-run does not inherit that reason.
    reason = study.trials[victim.number].user_attrs[FAIL_REASON_ATTR]
    assert reason == f"its worker process ({victim.user_attrs['worker_process']}) was killed by SIGKILL " + (
        "(the out-of-memory killer, or kill -9)"
    )
    assert FAIL_REASON_ATTR not in retries[0].user_attrs


def test_a_worker_s_last_error_is_shown(real_data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'life.db'}"
    parent = _start(url, real_data_dir, "--workers", "2", "--trials", "4", FMNIST_STUB_FAIL="the GPU caught fire")
    _, stderr = parent.communicate(timeout=120)
    assert parent.returncode == 1
    lines = [line for line in stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "worker-0 stopped: 3 trials in a row failed" in lines[0]
    assert "the GPU caught fire" in lines[0] and "Traceback" not in stderr


def test_a_signal_after_the_last_epoch_keeps_the_finished_trial(tmp_path: Path) -> None:
    """SIGTERM landing between a trial's last epoch and its end: counted once, not re-queued."""
    from search.runtime import interrupts

    url = f"sqlite:///{tmp_path / 'life.db'}"
    start_or_resume(open_storage(url), "life", space="dense", max_epochs=2, n_trials=3, pruner="none")

    def factory(job, settings, listener):
        def objective(trial: optuna.Trial) -> float:
            os.kill(os.getpid(), signal.SIGTERM)  # only remembered: the trial goes on to its end
            trial.suggest_float("x", 0.0, 1.0)
            return 0.5

        return objective

    with interrupts.signals_as_interrupts(), pytest.raises(interrupts.Interrupted):
        run_worker(WorkerJob(url, "life"), objective_factory=factory)
    study, _ = open_study(open_storage(url), "life")
    assert [t.state for t in study.trials] == [State.COMPLETE]  # finished, and nothing queued again
    assert Budget(url, "life").state() == (3, 1)


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_recovered(tmp_path: Path, monkeypatch) -> None:
    """Optuna never judges a trial without a heartbeat stale; a worker killed that early must not leave it RUNNING."""
    from search.engines.coordinator import recover_dead_trials as fail_stale_trials

    monkeypatch.setenv("FMNIST_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("FMNIST_GRACE_PERIOD", "2")
    url = f"sqlite:///{tmp_path / 'life.db'}"
    start_or_resume(open_storage(url), "life", space="dense", max_epochs=2, n_trials=3, pruner="none")
    study, _ = open_study(open_storage(url), "life")
    orphan = study.ask()  # created RUNNING, as by a worker that died before its heartbeat thread beat
    orphan.suggest_float("x", 0.0, 1.0)
    fail_stale_trials(study)
    assert study.trials[orphan.number].state == State.RUNNING  # young: maybe alive
    time.sleep(3)
    fail_stale_trials(study)
    assert study.trials[orphan.number].state == State.FAIL
    [again] = study.get_trials(states=(State.WAITING,))
    assert again.system_attrs["failed_trial"] == orphan.number
