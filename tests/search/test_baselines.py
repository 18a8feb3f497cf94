"""Seed baselines, the leaderboard and the warm start, through the CLI on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from spaces.seeds import load_seeds
from storage.exports import ExportLog
from tests.search.cli_helpers import assert_one_line_error, invoke


@pytest.mark.slow
def test_baselines_are_trained_evaluated_recorded_and_ranked_beside_a_searched_best(
    tiny_data_dir, tmp_path: Path
) -> None:
    data = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    common = ("--data-dir", str(data), "--storage", url)
    trained = invoke("baselines", "--only", "s000-dense,s004-cnn", "--max-epochs", "1", "--out", str(tmp_path), *common)
    assert trained.exit_code == 0, trained.output

    runs = {row["seed_id"]: row for row in ExportLog(url).baselines()}
    assert set(runs) == {"s000-dense", "s004-cnn"}
    dense = runs["s000-dense"]
    assert dense["epochs_run"] == 1 and dense["epochs_cap"] == 1 and dense["param_count"] == 266_610
    folder = tmp_path / "exports" / "baselines" / "s000-dense"
    report = json.loads((folder / "report.json").read_text())
    assert report["test_accuracy"]["mean"] == dense["test_accuracy"] and report["test_images"] == 30
    # The line for people is in percent; the store keeps fractions.
    in_percent = f"val {100 * dense['validation_accuracy']:.2f} %, test {100 * dense['test_accuracy']:.2f} %"
    assert f"s000-dense: {in_percent}, 266,610 params" in trained.stdout
    facts = json.loads((folder / "baseline.json").read_text())
    assert facts["seed"]["id"] == "s000-dense" and facts["run"]["epochs_cap"] == 1
    assert (folder / "learning_curves.png").is_file() and (folder / "confusion_matrix.png").is_file()

    # A searched best, exported and evaluated, joins the same board.
    assert invoke("start", "--space", "dense", "--trials", "1", "--epochs", "1", *common).exit_code == 0
    assert invoke("export", "--space", "dense", "--repeats", "2", "--out", str(tmp_path), *common).exit_code == 0
    assert invoke("evaluate", str(tmp_path / "exports" / "dense-0"), *common).exit_code == 0

    board = invoke("leaderboard", "--markdown", "--storage", url)
    assert board.exit_code == 0, board.output
    lines = [line for line in board.stdout.splitlines() if line.startswith("| dense") or line.startswith("| cnn")]
    assert len(lines) == 3  # the two seeds run and the searched best: final models only
    searched = next(line for line in lines if "| search |" in line)
    assert "dense #0" in searched and "± " in searched and "(2 models)" in searched
    retrain = json.loads((tmp_path / "exports" / "dense-0" / "retrain.json").read_text())
    assert (
        retrain["train_images"] == 120 and len(retrain["seconds_per_model"]) == 2
    )  # tiny data: all of its train images
    # Every row's time is that of training one final model: the export's retrain, not the search trial's.
    cells = [cell.strip() for cell in searched.split("|")]
    mean_retrain = sum(retrain["seconds_per_model"]) / 2
    assert cells[5] == f"{mean_retrain:.0f} s"
    s000 = next(line for line in lines if "| s000-dense |" in line)
    assert f"{100 * dense['test_accuracy']:.2f} %" in s000 and "capped at 1 of 30 epochs" in s000
    seeds = load_seeds()
    assert next(s.reported for s in seeds if s.id == "s000-dense") in s000  # what the seed's report claimed
    not_run = [s.id for s in seeds if s.id not in ("s000-dense", "s004-cnn")]
    [line] = [line for line in board.stdout.splitlines() if line.startswith("not run yet:")]
    assert (
        line == f"not run yet: {', '.join(not_run)}; run them with: "
        f"fmnist-search baselines --only {','.join(not_run)} --storage '{url}'"
    )
    assert lines.index(s000) < lines.index(next(line for line in lines if "| s004-cnn |" in line))  # dense rows first

    table = invoke("leaderboard", "--storage", url)  # the terminal table, 80 columns wide here
    assert table.exit_code == 0 and "run them with: fmnist-search baselines --only" in table.stdout
    # Table rows fit; a longer line is a sentence (a note moved under the table, the command), never a wrapped row.
    assert all(len(line) <= 80 or "  " not in line.strip() for line in table.stdout.splitlines())


def test_bad_baseline_and_leaderboard_input_is_one_line(tiny_data_dir, tmp_path: Path) -> None:
    data = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert_one_line_error(
        invoke("baselines", "--only", "s009-cnn", "--data-dir", str(data), "--storage", url),
        "unknown seed id 's009-cnn'",
    )
    assert_one_line_error(invoke("leaderboard", "--storage", f"sqlite:///{tmp_path / 'none.db'}"), "no store at")
    assert not (tmp_path / "none.db").exists()


@pytest.mark.slow
def test_warm_start_enqueues_the_fitting_seeds_first_and_only_once(tiny_data_dir, tmp_path: Path) -> None:
    data = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'x.db'}"
    common = ("--data-dir", str(data), "--storage", url, "--epochs", "1")
    first = invoke("start", "--space", "dense", "--warm-start", "seeds", "--trials", "2", *common)
    assert first.exit_code == 0, first.output
    assert "s000-dense, s001-dense, s002-dense-sgd" in first.output and "s002-dense-adam: n_layers=5" in first.output

    again = invoke("start", "--study", "dense", "--warm-start", "seeds", "--trials", "4", *common)
    assert again.exit_code == 0, again.output
    trials = optuna.load_study(study_name="dense", storage=url).get_trials()
    # The family defaults come first (spaces/first_trial.py), then the seeds, each once.
    assert [t.user_attrs.get("warm_start") for t in trials] == [
        "defaults",
        "s000-dense",
        "s001-dense",
        "s002-dense-sgd",
    ]
    assert trials[1].params["units"] == 300 and trials[3].params["optimizer"] == "sgd"
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


@pytest.mark.parametrize("warm_start", [None, "none"])
def test_a_new_study_tries_the_family_defaults_first_unless_told_none(
    tiny_data_dir, tmp_path: Path, warm_start: str | None
) -> None:
    from spaces.first_trial import default_point, known_good_points
    from spaces.space import load_space

    url, data = f"sqlite:///{tmp_path / 'x.db'}", str(tiny_data_dir())
    common = ("--data-dir", data, "--storage", url, "--epochs", "1", "--space", "dense")
    flag = ("--warm-start", warm_start) if warm_start else ()
    assert invoke("start", "--trials", "2", *flag, *common).exit_code == 0
    assert invoke("start", "--study", "dense", "--trials", "3", "--data-dir", data, "--storage", url).exit_code == 0
    trials = optuna.load_study(study_name="dense", storage=url).get_trials()
    marked = [t.user_attrs.get("warm_start") for t in trials]
    if warm_start == "none":
        assert marked == [None, None, None]
    else:  # once, first, then the space's known-good points (as many as --trials leaves room for); a resume adds none
        assert marked == ["defaults", "known-good", None]
        assert trials[0].params == default_point(load_space("dense"))
        assert trials[1].params == known_good_points(load_space("dense"))[0]
        assert not [t for t in trials if t.state == optuna.trial.TrialState.WAITING]


def test_a_seed_row_carries_the_test_accuracy_its_report_claimed() -> None:
    from search.results.leaderboard import seed_rows

    run = {"seed_id": "s000-dense", "validation_accuracy": 0.88, "test_accuracy": 0.87, "epochs_cap": None,
           "epochs_run": 15, "param_count": 266_610, "train_seconds": 300.0}  # fmt: skip
    [row] = seed_rows(load_seeds(), [run])
    assert row.reported_test == 0.883  # spaces/seeds.toml: reported_test; --json carries it beside the measured 0.87
