"""The CLI in-process: a real 2-trial study on real data, and bad input ending in one line and exit 1."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.search.cli_helpers import assert_one_line_error, invoke


@pytest.mark.slow
def test_start_runs_a_real_study_and_stores_every_epoch(real_data_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    url = f"sqlite:///{db}"
    result = invoke(
        "start",
        "--space",
        "dense",
        "--trials",
        "2",
        "--epochs",
        "2",
        "--subset",
        "500",
        "--data-dir",
        str(real_data_dir),
        "--storage",
        url,
        "--seed",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert "starting study dense" in result.output and "finished 2/2" in result.output
    with sqlite3.connect(db) as connection:
        trials = connection.execute("SELECT trial_id, state FROM trials ORDER BY number").fetchall()
        assert [state for _, state in trials] in (["COMPLETE", "COMPLETE"], ["COMPLETE", "PRUNED"])
        for trial_id, state in trials:
            steps = [
                row[0]
                for row in connection.execute(
                    "SELECT step FROM trial_intermediate_values WHERE trial_id = ? ORDER BY step", (trial_id,)
                )
            ]
            expected_epochs = 2 if state == "COMPLETE" else len(steps)
            assert steps == list(range(1, expected_epochs + 1)) and steps
        attrs = {key for (key,) in connection.execute("SELECT DISTINCT key FROM trial_user_attributes")}
        assert {"epochs_run", "best_epoch", "param_count", "train_seconds", "worker_id", "device"} <= attrs

    # Starting again resumes: the budget is already spent, so no new trial runs.
    again = invoke("start", "--study", "dense", "--storage", url, "--data-dir", str(real_data_dir))
    assert again.exit_code == 0 and "resuming study dense" in again.output
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 2

    status = invoke("status", "--storage", url)
    assert status.exit_code == 0 and "dense" in status.output
    detail = invoke("status", "--study", "dense", "--storage", url)
    assert detail.exit_code == 0 and "best trials" in detail.output and "learning_rate" in detail.output


def test_unknown_space(tmp_path: Path) -> None:
    result = invoke("start", "--space", "resnet", "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert_one_line_error(result, "unknown space 'resnet'")
    assert not (tmp_path / "x.db").exists()


def test_malformed_space_file_and_impossible_range(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("model = \n")
    assert_one_line_error(invoke("start", "--space", str(broken)), "malformed")
    impossible = tmp_path / "impossible.yaml"
    impossible.write_text("model: cnn\nparams:\n  filters: {type: int, low: 64, high: 16}\n")
    assert_one_line_error(invoke("start", "--space", str(impossible)), "params.filters", "low")


def test_unreachable_and_invalid_storage(real_data_dir: Path) -> None:
    assert_one_line_error(
        invoke(
            "start",
            "--space",
            "dense",
            "--data-dir",
            str(real_data_dir),
            "--storage",
            "postgresql+psycopg2://x@127.0.0.1:9/db",
        ),
        "failed",
    )
    assert_one_line_error(invoke("status", "--storage", "nonsense"), "invalid storage URL")


def test_corrupt_data_leaves_no_study_behind(tiny_data_dir, tmp_path: Path) -> None:
    folder = tiny_data_dir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    db = tmp_path / "x.db"
    result = invoke("start", "--space", "dense", "--data-dir", str(folder), "--storage", f"sqlite:///{db}")
    assert_one_line_error(result, "train-images-idx3-ubyte.gz")
    assert not db.exists()


def test_missing_study_and_missing_store(tmp_path: Path) -> None:
    assert_one_line_error(invoke("status", "--storage", f"sqlite:///{tmp_path / 'none.db'}"), "no store")
    assert not (tmp_path / "none.db").exists()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    from storage import open_storage

    open_storage(url)
    assert_one_line_error(invoke("status", "--study", "ghost", "--storage", url), "no study named 'ghost'")
    assert_one_line_error(invoke("start", "--study", "ghost", "--storage", url), "does not exist yet")


def test_resuming_with_different_epochs_is_refused(tiny_data_dir, tmp_path: Path) -> None:
    folder = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 's.db'}"
    from search.study.settings import start_or_resume
    from storage import open_storage

    start_or_resume(open_storage(url), "dense", space="dense", max_epochs=3)
    result = invoke("start", "--space", "dense", "--epochs", "5", "--data-dir", str(folder), "--storage", url)
    assert_one_line_error(result, "--epochs", "3")


# What each command's help must tell a user: what it does, its own options, and the shared ones it takes.
HELP = {
    "start": (
        "Start a search, or resume one",
        "--space",
        "--study",
        "--trials",
        "--workers",
        "--timeout",
        "--epochs",
        "--engine",
        "keras-tuner",
        "--gpus",
        "--warm-start",
        "--max-params",
        "--log-format",
        "Example:",
    ),
    "worker": (
        "Join a running study",
        "settings read from the store",
        "--study",
        "--timeout",
        "CUDA_VISIBLE_DEVICES",
        "Example:",
    ),
    "status": ("trials by state", "best validation accuracy", "--study", "--all", "--json", "Example:"),
    "dashboard": ("optuna-dashboard", "--host", "--port", "no login", "SSH tunnel", "--artifacts", "Example:"),
    "export": (
        "Export the best trial",
        "60,000 training images",
        "--study",
        "--space",
        "--from-config",
        "--repeats",
        "--out",
        "The test set is not read",
        "Example:",
    ),
    "evaluate": (
        "10,000 sealed test images",
        "The only command that reads the test set",
        "export folder",
        ".keras",
        "Example:",
    ),
    "data": ("Fashion-MNIST", "download", "--data-dir", "FMNIST_DATA_DIR", "Example:"),
    "baselines": ("seed reports' models", "--only", "--max-epochs", "--out", "fmnist-search leaderboard", "Example:"),
    "leaderboard": ("Seed baselines and searched bests", "test accuracy", "--markdown", "--json", "Example:"),
}
SHARED = {
    "--storage": ("start", "worker", "status", "dashboard", "export", "evaluate", "baselines", "leaderboard"),
    "--data-dir": ("start", "worker", "export", "evaluate", "data", "baselines"),
    "--verbose": ("start", "worker", "export", "evaluate", "baselines"),
}


def test_the_help_test_covers_every_command() -> None:
    from search.cli import app

    assert sorted(HELP) == sorted(command.name or command.callback.__name__ for command in app.registered_commands)


@pytest.mark.parametrize("command", sorted(HELP))
def test_every_command_explains_itself(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # the help is wrapped to the terminal's width
    for fragment in HELP[command] + tuple(option for option, commands in SHARED.items() if command in commands):
        assert fragment in text, f"{command} --help does not say {fragment!r}"


def test_worker_joins_with_settings_from_the_store_and_its_own_seed(real_data_dir: Path, tmp_path: Path) -> None:
    from search.study.settings import open_study, start_or_resume
    from storage import open_storage

    url = f"sqlite:///{tmp_path / 'join.db'}"
    start_or_resume(open_storage(url), "joined", space="dense", max_epochs=1, subset=200, n_trials=2)
    result = invoke("worker", "--study", "joined", "--storage", url, "--data-dir", str(real_data_dir))
    assert result.exit_code == 0, result.output
    study, _ = open_study(open_storage(url), "joined")
    assert len(study.trials) == 2 and all(t.user_attrs["epochs_run"] == 1 for t in study.trials)
    assert {t.user_attrs["worker_id"] for t in study.trials} != {0}  # not worker 0's sampler seed


def test_only_the_commands_that_need_optuna_dashboard_import_it() -> None:
    # The CLI, status, leaderboard, export and evaluate start without it: only `dashboard` serves it,
    # and `start` and `worker` write trial notes with it.
    code = (
        "import sys; import search.cli, search.ui.status, search.results.leaderboard, search.results.final; "
        "print('optuna_dashboard' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
