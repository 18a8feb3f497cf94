"""What the commands print off a terminal, 80 columns wide: no table cell wrapped or cut, every
command and path on one line, accuracies in percent, every trial shown or counted; and --version
and --help answered without importing Optuna, SQLAlchemy or TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from search.ui.console import console
from spaces.seeds import load_seeds
from storage import open_storage
from storage.exports import ExportLog
from tests.search.cli_helpers import invoke

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 80
LONG_NAME = "quickstart-dense-with-a-long-name"  # 33 characters: rich cut such names to "quickst…"


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console as off a terminal (a pipe, nohup, docker compose logs) at 80 columns, whatever runs the tests."""
    monkeypatch.setattr(console, "_width", WIDTH)
    monkeypatch.setattr(console, "soft_wrap", True)


def assert_readable(output: str, *whole: str) -> None:
    """Each of ``whole`` (a cell, a note, a command) on one line, nothing cut with "…", and every table
    row within the width; a longer line is a sentence (single spaces), which a pager or terminal wraps softly."""
    assert "…" not in output, output
    lines = output.splitlines()
    for text in whole:
        assert any(text in line for line in lines), f"{text!r} is not on one line of:\n{output}"
    for line in lines:
        assert len(line) <= WIDTH or "  " not in line.strip(), f"a table row wider than {WIDTH} columns: {line!r}"


def _study(url: str, name: str, finished: int, waiting: int = 0) -> optuna.Study:
    from search.study.settings import open_study, start_or_resume

    storage = open_storage(url)
    start_or_resume(storage, name, space="dense", max_epochs=3, n_trials=50)
    study, _ = open_study(storage, name)
    for i in range(finished):
        value = 0.80 + i / 1000
        trial = create_trial(
            state=TrialState.COMPLETE if i % 4 else TrialState.PRUNED,
            value=value if i % 4 else None,
            params={"units": 64 + i},
            distributions={"units": IntDistribution(8, 512)},
            intermediate_values={1: value - 0.1, 2: value},
            user_attrs={
                "epochs_run": 2,
                "best_epoch": 2,
                "param_count": 55_050,
                "train_seconds": 4.25,
                "worker_id": 0,
                "device": "cpu",
            },
        )
        trial.datetime_start = trial.datetime_complete - timedelta(seconds=5)  # type: ignore[operator]
        study.add_trial(trial)
    for i in range(waiting):
        study.enqueue_trial(
            {"units": 400 + i}, skip_if_exists=False
        )  # a re-queued trial, as an interrupted run leaves it
    return study


def test_status_lists_every_study_whole_with_its_best_in_percent(tmp_path: Path, piped: None) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url, LONG_NAME, finished=3)
    _study(url, "cnn", finished=0)
    result = invoke("status", "--storage", url)
    assert result.exit_code == 0, result.output
    assert_readable(result.stdout, LONG_NAME, "80.20")
    assert "0.802" not in result.stdout  # one unit: percent


def test_status_of_a_study_counts_what_it_leaves_out_and_lists_waiting_trials(tmp_path: Path, piped: None) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url, LONG_NAME, finished=12, waiting=1)
    result = invoke("status", "--study", LONG_NAME, "--storage", url)
    assert result.exit_code == 0, result.output
    every = f"fmnist-search status --study {LONG_NAME} --all --storage '{url}'"
    assert_readable(result.stdout, "2 more finished trial(s) not shown", every)
    rows = _trial_rows(result.stdout)
    assert len(rows) == 11 and rows[-1][1] == "waiting"  # the best 10 finished, then the waiting one
    assert rows[0][:3] == ["11", "complete", "81.10"]  # best first, in percent

    everything = invoke("status", "--study", LONG_NAME, "--all", "--storage", url)
    assert everything.exit_code == 0 and "not shown" not in everything.stdout
    rows = _trial_rows(everything.stdout)
    assert sorted(int(row[0]) for row in rows) == list(range(13))
    assert {row[1] for row in rows} == {"complete", "pruned", "waiting"}
    assert_readable(everything.stdout, LONG_NAME)


def _trial_rows(output: str) -> list[list[str]]:
    """The trials table's rows, as cells (a trial number first)."""
    states = {"complete", "pruned", "fail", "running", "waiting"}
    return [
        cells
        for cells in map(str.split, output.splitlines())
        if len(cells) >= 3 and cells[0].isdigit() and cells[1] in states
    ]


def test_an_empty_study_says_so_in_a_sentence(tmp_path: Path, piped: None) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url, "fresh", finished=0)
    result = invoke("status", "--study", "fresh", "--storage", url)
    assert result.exit_code == 0, result.output
    assert_readable(
        result.stdout, f"study fresh has no trial yet; run it with: fmnist-search start --study fresh --storage '{url}'"
    )
    assert "best trials" not in result.stdout and "val acc %" not in result.stdout  # no empty trials table


def test_status_json_keeps_fractions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url, "dense", finished=2)
    one = json.loads(invoke("status", "--study", "dense", "--json", "--storage", url).stdout)
    assert one["best_val_accuracy"] == pytest.approx(0.801) and one["trials"][0]["val_accuracy"] == pytest.approx(0.801)


def test_leaderboard_moves_its_notes_under_a_table_too_wide_for_80_columns(tmp_path: Path, piped: None) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    log = ExportLog(url)
    for seed_id, model, accuracy in (("s000-dense", "dense", 0.8811), ("s004-cnn", "cnn", 0.9123)):
        log.record_baseline(
            seed_id=seed_id,
            model=model,
            epochs_run=3,
            epochs_cap=3,
            validation_accuracy=accuracy - 0.01,
            test_accuracy=accuracy,
            param_count=266_610,
            train_seconds=42.0,
            folder=str(tmp_path / seed_id),
        )
    log.close()
    result = invoke("leaderboard", "--storage", url)
    assert result.exit_code == 0, result.output
    seeds = {seed.id: seed for seed in load_seeds()}
    not_run = ",".join(seed for seed in seeds if seed not in ("s000-dense", "s004-cnn"))
    assert_readable(
        result.stdout,
        "88.11",
        "91.23",
        "87.11",  # test and validation accuracy in percent
        f"seed s000-dense, notes: capped at 3 of {seeds['s000-dense'].training.epochs} epochs; 3 epochs on 55k",
        f"seed s004-cnn, reported: {seeds['s004-cnn'].reported}",
        f"fmnist-search baselines --only {not_run} --storage '{url}'",
    )
    assert "0.8811" not in result.stdout


def test_an_empty_leaderboard_says_so(tmp_path: Path, piped: None) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    ExportLog(url).close()
    result = invoke("leaderboard", "--storage", url)
    assert result.exit_code == 0 and "no final model yet" in result.stdout and "notes" not in result.stdout


def test_a_table_too_wide_even_without_its_notes_prints_one_row_per_line(piped: None) -> None:
    from search.ui.tables import Column, print_table

    with console.capture() as captured:
        columns = (Column("name"), Column("val acc %", numeric=True), Column("notes", long=True))
        print_table(console, "wide", columns, [["x" * 75, "87.66", "a note"], ["short", "—", "—"]])
    assert_readable(captured.get(), f"{'x' * 75}: val acc 87.66 %, notes a note", "short: val acc —, notes —")


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``fmnist-search ARGS`` (or Python ``code``) as run piped into another program, in an 80-column setting."""
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "search", *args]
    return subprocess.run(
        command, check=False, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def test_a_message_piped_stays_one_line_however_long() -> None:
    # How export, start and dashboard print their commands and paths: through the one console.
    path = "quickstart/exports/" + "quickstart-cnn-0/" * 6
    done = _run(
        code="from search.ui.console import console; "
        f"console.print('evaluate on the test set: fmnist-search evaluate {path}')"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"evaluate on the test set: fmnist-search evaluate {path}\n"


def test_status_piped_at_80_columns_cuts_no_study_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url, LONG_NAME, finished=2)
    done = _run("status", "--storage", url)
    assert done.returncode == 0, done.stderr
    assert_readable(done.stdout, LONG_NAME)


HEAVY = ("optuna", "sqlalchemy", "tensorflow", "keras", "jax", "torch", "numpy")


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["status", "--help"], ["start", "--help"]])
def test_version_and_help_import_no_heavy_module(args: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['fmnist-search', *{args!r}]\n"
        "from search.__main__ import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = _run(code=code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "HEAVY []", done.stdout


def test_the_top_level_help_has_an_example() -> None:
    result: Any = invoke("--help")
    assert result.exit_code == 0 and "Example: fmnist-search start" in result.output


def test_the_core_s_warnings_are_one_warning_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # Engines and results warn through search.notices; the UI's handler prints what report_error prints.
    from search import notices
    from search.ui.console import show_notices

    show_notices()
    notices.warn("study plots not updated: OSError: disk full")
    notices.error("the store went away")
    assert (
        capsys.readouterr().err == "warning: study plots not updated: OSError: disk full\nerror: the store went away\n"
    )
