"""What a user of any CLI expects: --version, -h, shell completion, flags shown as flags, JSON for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from search import __version__
from tests.search.cli_helpers import invoke
from tests.search.stub_start import use_stub_training

ROOT = Path(__file__).resolve().parents[2]


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"fmnist-search {__version__}"


def test_short_help_and_flags_shown_as_flags() -> None:
    assert invoke("-h").exit_code == 0 and "--install-completion" in invoke("-h").output
    for command in ("start", "worker", "export", "evaluate", "baselines", "leaderboard", "status"):
        result = invoke(command, "-h")
        assert result.exit_code == 0 and "-h, --help" in result.output, command
        assert "<bool>" not in result.output, result.output
    start = invoke("start", "-h").output
    assert "--verbose  " in start and "--log-format" in start


def test_shell_completion_completes_commands_and_options() -> None:
    """The way bash's completion script calls the installed command."""

    def complete(words: str, index: int) -> list[str]:
        env = {**os.environ, "_FMNIST_SEARCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(index)}
        done = subprocess.run(
            [sys.executable, "-m", "search"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done.stdout.split()

    assert "start" in complete("fmnist-search sta", 1) and "status" in complete("fmnist-search sta", 1)
    assert complete("fmnist-search status --js", 2) == ["--json"]
    assert "--log-format" in complete("fmnist-search start --log", 2)
    # Typer finds the shell from the parent processes: run it under bash, as a user would ("; true"
    # keeps bash from exec-ing into it), so that it does not depend on what runs the tests.
    shown = subprocess.run(
        ["bash", "-c", f"'{sys.executable}' -m search --show-completion; true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "complete -o default -F _fmnist_search_completion fmnist-search" in shown.stdout, shown.stderr


def test_status_json_for_the_store_and_for_one_study(tiny_data_dir, tmp_path: Path, monkeypatch) -> None:
    use_stub_training(monkeypatch)
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert (
        invoke(
            "start",
            "--space",
            "dense",
            "--trials",
            "2",
            "--epochs",
            "1",
            "--data-dir",
            str(tiny_data_dir()),
            "--storage",
            url,
        ).exit_code
        == 0
    )
    every = json.loads(invoke("status", "--json", "--storage", url).stdout)
    [study] = every["studies"]
    assert study["study"] == "dense" and study["space"] == "dense" and study["complete"] + study["pruned"] == 2
    assert study["budget"] == 2 and study["best_val_accuracy"] > 0 and study["best_params"]
    one = json.loads(invoke("status", "--study", "dense", "--json", "--storage", url).stdout)
    assert one["study"] == "dense" and len(one["trials"]) == 2
    best = one["trials"][0]
    assert (
        best["number"] == one["best_trial"]
        and best["val_accuracy"] == one["best_val_accuracy"]
        and "units" in best["params"]
    )


def test_leaderboard_json_lists_every_seed(tmp_path: Path) -> None:
    from storage.exports import ExportLog

    url = f"sqlite:///{tmp_path / 's.db'}"
    ExportLog(url).close()
    result = invoke("leaderboard", "--json", "--storage", url)
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)
    assert board["rows"] == [] and {"s000-dense", "s004-cnn"} <= set(board["seeds_not_run"])
    assert board["command"].startswith("fmnist-search baselines --only s000-dense,")
