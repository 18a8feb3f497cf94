"""Any number of `start`s of one study at once, on a new store: each runs, or fails in one line that
says why; none fails on a race (tables created twice, a study seen before its settings are saved).

Real processes on a real PostgreSQL server (tests/pg_fixtures.py) and on SQLite; the workers train
a stub (tests/stub_worker.py) so that only the start-up races are under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search.study.settings import FINISHED
from storage import open_storage

ROOT = Path(__file__).resolve().parents[2]
STUB = {
    "FMNIST_STUB_EPOCH_SECONDS": "0.05",
    "FMNIST_HEARTBEAT_INTERVAL": "1",
    "FMNIST_GRACE_PERIOD": "3",
}


def _starts(url: str, data_dir: Path, options: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """One `start --study same` per list of options, all launched at once; their results."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **STUB}
    common = [
        sys.executable,
        "-m",
        "bench.with_objective",
        "tests.stub_worker:factory_from_env",
        "start",
        "--study",
        "same",
        "--storage",
        url,
        "--data-dir",
        str(data_dir),
    ]
    processes = [
        subprocess.Popen(
            [*common, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for extra in options
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return results


def _assert_ends_exact(url: str, trials: int) -> None:
    study = optuna.load_study(study_name="same", storage=open_storage(url))
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert len(study.get_trials(states=FINISHED)) == trials


SAME = ["--space", "dense", "--trials", "4", "--epochs", "2", "--pruner", "none"]


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_starts_on_a_new_postgresql_database_all_run(
    postgres_url: str, real_data_dir: Path, attempt: int
) -> None:
    results = _starts(postgres_url, real_data_dir, [SAME, SAME, SAME])
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr[-600:] for r in results]
    _assert_ends_exact(postgres_url, 4)


def test_concurrent_starts_on_a_new_sqlite_file_all_run(tmp_path: Path, real_data_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    results = _starts(url, real_data_dir, [SAME, SAME, SAME])
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr[-600:] for r in results]
    _assert_ends_exact(url, 4)


def test_a_concurrent_start_with_other_settings_fails_in_one_line(postgres_url: str, real_data_dir: Path) -> None:
    other = ["--space", "dense", "--trials", "4", "--epochs", "3", "--pruner", "none"]
    results = _starts(postgres_url, real_data_dir, [SAME, other])
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 1], [r.stderr[-600:] for r in results]
    loser = next(r for r in results if r.returncode == 1)
    errors = [line for line in loser.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:") and "--epochs" in errors[0], loser.stderr
    _assert_ends_exact(postgres_url, 4)
