"""Trial files of workers on other machines reach the dashboard through the store alone.

Two real worker processes that share nothing but the PostgreSQL URL (each its own home folder,
working folder and no FMNIST_ARTIFACTS) train one trial each; a dashboard started from a third
home serves both trials' learning curves, read from the store's database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import optuna
import pytest

from search.study.settings import start_or_resume
from storage import open_storage
from storage.artifacts import open_artifact_store
from storage.db_artifacts import DatabaseArtifactStore
from tests.search.dashboard_helpers import running_dashboard

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def test_a_database_store_keeps_the_files_and_a_sqlite_store_a_folder_beside_it(
    postgres_url: str, tmp_path: Path
) -> None:
    assert isinstance(open_artifact_store(postgres_url), DatabaseArtifactStore)
    folder = open_artifact_store(f"sqlite:///{tmp_path / 'studies.db'}")
    assert not isinstance(folder, DatabaseArtifactStore) and (tmp_path / "artifacts").is_dir()
    assert not isinstance(open_artifact_store(postgres_url, explicit=str(tmp_path / "x")), DatabaseArtifactStore)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_artifacts_round_trip_through_optuna(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'db.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    store = DatabaseArtifactStore(url)
    trial = optuna.create_study(storage=optuna.storages.RDBStorage(url), study_name="files").ask()
    picture = tmp_path / "learning_curve.png"
    picture.write_bytes(PNG + os.urandom(40_000))
    artifact_id = optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(picture), study_or_trial=trial)
    assert store.open_reader(artifact_id).read() == picture.read_bytes()
    store.write(artifact_id, open(picture, "rb"))  # written again: replaced, not doubled
    store.remove(artifact_id)
    with pytest.raises(optuna.artifacts.exceptions.ArtifactNotFound):
        store.open_reader(artifact_id)
    with pytest.raises(optuna.artifacts.exceptions.ArtifactNotFound):
        store.remove(artifact_id)


def _worker(url: str, data_dir: Path, home: Path) -> subprocess.Popen[str]:
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "FMNIST_ARTIFACTS"}
    env.update(PYTHONPATH=str(ROOT), FMNIST_SEARCH_HOME=str(home), HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    command = [
        sys.executable,
        "-m",
        "search",
        "worker",
        "--study",
        "shared",
        "--storage",
        url,
        "--data-dir",
        str(data_dir),
    ]
    return subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_the_dashboard_shows_the_curves_of_workers_that_share_only_the_store_url(
    postgres_url: str, real_data_dir: Path, tmp_path: Path
) -> None:
    start_or_resume(
        open_storage(postgres_url), "shared", space="dense", max_epochs=1, n_trials=2, subset=500, pruner="none"
    )
    workers = [_worker(postgres_url, real_data_dir, tmp_path / name) for name in ("machine-a", "machine-b")]
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output[-2000:]
    study = optuna.load_study(study_name="shared", storage=open_storage(postgres_url))
    trials = study.trials
    assert len(trials) == 2 and len({t.user_attrs["worker_process"] for t in trials}) == 2
    for name in ("machine-a", "machine-b"):
        assert not list((tmp_path / name).rglob("*.png")), f"{name} kept trial files of its own"

    with running_dashboard(postgres_url) as base:
        for trial in trials:
            curves = [
                json.loads(value)
                for key, value in trial.system_attrs.items()
                if key.startswith("artifacts:") and json.loads(value).get("filename") == "learning_curve.png"
            ]
            assert len(curves) == 1
            address = f"{base}/artifacts/{study._study_id}/{trial._trial_id}/{curves[0]['artifact_id']}"
            with urllib.request.urlopen(address, timeout=10) as response:
                assert response.read().startswith(PNG)
