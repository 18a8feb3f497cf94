"""A run ended by ``--timeout`` says so: one line with the trials done and the trials it cut and re-queued.

A real ``start`` in its own process, stub training in its worker (the store, budget, deadline and
re-queueing stay real), a timeout that ends the run in the middle of a trial.
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


def _run(command: str, url: str, data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FMNIST_STUB_EPOCH_SECONDS": "0.4",  # 8 epochs: over 3 s a trial, so a 2 s timeout cuts the first
    }
    # bench/with_objective.py: the real CLI, its workers training the stub
    stub = "tests.stub_worker:factory_from_env"
    arguments = [sys.executable, "-m", "bench.with_objective", stub, command, "--study", "cut", "--timeout", "2",
                 "--storage", url, "--data-dir", str(data_dir), *options]  # fmt: skip
    return subprocess.run(arguments, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _start(url: str, data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return _run(
        "start", url, data_dir, "--space", "dense", "--epochs", "8", "--pruner", "none", "--trials", "5", *options
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_run_cut_by_its_timeout_says_so_in_one_line_and_exits_0(
    tiny_data_dir, tmp_path: Path, log_format: str
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    done = _start(url, tiny_data_dir(), "--log-format", log_format)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="cut", storage=open_storage(url))
    finished = len(study.get_trials(states=(State.COMPLETE, State.PRUNED)))
    requeued = [t for t in study.get_trials(states=(State.WAITING,)) if "requeued_from" in t.user_attrs]
    assert finished < 5 and len(requeued) == 1  # the deadline cut the trial that ran
    line = f"stopped at the --timeout: {finished} trials of 5 done; 1 unfinished trial re-queued to run first next time"
    people, machines = (done.stderr, done.stdout) if log_format == "json" else (done.stdout, done.stderr)
    assert [text for text in people.splitlines() if text.startswith("stopped at")] == [line], people
    assert "stopped at" not in machines
    if log_format == "json":
        assert all(json.loads(text) for text in done.stdout.splitlines() if text.strip())  # stdout stays JSON


def test_a_joining_worker_cut_by_its_timeout_says_so_too(tiny_data_dir, tmp_path: Path) -> None:
    url, data = f"sqlite:///{tmp_path / 's.db'}", tiny_data_dir()
    assert _start(url, data).returncode == 0
    done = _run("worker", url, data, "--log-format", "text")
    assert done.returncode == 0, done.stderr
    [line] = [text for text in done.stdout.splitlines() if text.startswith("stopped at the --timeout: ")]
    assert line.endswith("of 5 done; 1 unfinished trial re-queued to run first next time"), line
