"""The dashboard command: a missing store, a study run while the dashboard polls it (optuna-dashboard #545)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from search.cli.app import app
from storage import open_storage
from tests.search.dashboard_helpers import ROOT, get_json, running_dashboard, study_command

FINISHED = ("Complete", "Pruned")
TRIALS_CACHE_SECONDS = 2.5


def test_a_missing_store_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nowhere.db"
    result = CliRunner().invoke(app, ["dashboard", "--storage", f"sqlite:///{db}", "--port", "0"])
    assert result.exit_code == 1
    assert "no store at" in result.output and len(result.output.strip().splitlines()) == 1
    assert not db.exists() and not (tmp_path / "artifacts").exists()


def test_a_busy_port_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    open_storage(url)
    with running_dashboard(url) as base:
        port = base.rsplit(":", 1)[1]
        result = CliRunner().invoke(app, ["dashboard", "--storage", url, "--port", port])
    assert result.exit_code == 1
    assert "cannot serve the dashboard" in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_polling_the_dashboard_does_not_disturb_a_running_sqlite_study(real_data_dir: Path, tmp_path: Path) -> None:
    """Two workers write the SQLite file while the dashboard reads it as fast as it can."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    open_storage(url)  # the dashboard needs a store; the study is created while it watches
    polls = 0
    with running_dashboard(url) as base:
        study = subprocess.Popen(
            study_command(url, real_data_dir, trials=4, workers=2),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while study.poll() is None:
                for summary in get_json(f"{base}/api/studies")["study_summaries"]:
                    get_json(f"{base}/api/studies/{summary['study_id']}?after=0")
                polls += 1
            output = study.stdout.read() if study.stdout else ""
        finally:
            if study.poll() is None:
                study.kill()
            study.wait()
        assert study.returncode == 0, output
        time.sleep(TRIALS_CACHE_SECONDS)  # the dashboard re-reads a study's trials at most every 2 s
        detail = get_json(f"{base}/api/studies/1?after=0")
    assert polls > 10, "the dashboard was not polled while the study ran"
    states = [trial["state"] for trial in detail["trials"]]
    assert len(states) == 4 and all(state in FINISHED for state in states), states
    # What the dashboard shows of every finished trial: its note and its learning curve.
    for trial in detail["trials"]:
        assert f"## Trial {trial['number']}" in trial["note"]["body"]
        assert [a["filename"] for a in trial["artifacts"]] == ["learning_curve.png"]
    assert [g["id"] for g in detail["plotly_graph_objects"]] == ["accuracy-vs-parameters"]
    trials = optuna.load_study(study_name="dense", storage=url).trials
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)
