"""python -m bench's pure parts: the figures from finished searches, the JSON, and the BENCHMARKS.md section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.figures import best_value, kerastuner_figures, pruning_figures, time_to_reach, total_epochs
from bench.report import (
    BEGIN,
    END,
    GOALS,
    render_section,
    replace_marked_section,
    update_benchmarks_md,
    verdict,
    write_results,
)
from bench.studies import SearchRun, TrialRecord


def trial(number: int, value: float | None, epochs: int, at: float) -> TrialRecord:
    return TrialRecord(number, "COMPLETE" if value is not None else "PRUNED", value, epochs, at)


PRUNED = SearchRun(
    "with", (trial(0, 0.80, 9, 5.0), trial(1, None, 1, 6.0), trial(2, None, 3, 8.0), trial(3, 0.84, 9, 15.0)), 15.0
)
UNPRUNED = SearchRun(
    "without",
    (trial(0, 0.80, 9, 5.0), trial(1, 0.70, 9, 10.0), trial(2, 0.82, 9, 15.0), trial(3, 0.845, 9, 20.0)),
    20.0,
)


def test_epochs_best_and_time_to_reach() -> None:
    assert total_epochs(PRUNED) == 22 and total_epochs(UNPRUNED) == 36
    assert best_value(PRUNED) == 0.84 and best_value(UNPRUNED, until_s=12.0) == 0.80
    assert time_to_reach(UNPRUNED, 0.82) == 15.0 and time_to_reach(PRUNED, 0.9) is None


def test_pruning_figures() -> None:
    figures = pruning_figures(PRUNED, UNPRUNED)
    assert figures["pruning_epoch_ratio"] == pytest.approx(22 / 36)
    assert figures["pruning_best_gap"] == pytest.approx(0.5)  # percentage points
    assert figures["pruning_trials_pruned"] == 2


def test_kerastuner_figures_at_equal_time() -> None:
    keras_tuner = SearchRun("kt", (trial(0, 0.78, 1, 4.0), trial(1, 0.82, 3, 12.0), trial(2, 0.81, 9, 20.0)), 20.0)
    ours = SearchRun("ours", (trial(0, 0.80, 9, 3.0), trial(1, 0.83, 9, 5.0), trial(2, 0.90, 9, 25.0)), 25.0)
    figures = kerastuner_figures(keras_tuner, ours)
    assert figures["kerastuner_best_val_accuracy"] == 0.82
    assert figures["fmnist_search_best_val_accuracy"] == 0.83  # the 0.90 came after KerasTuner's 20 s
    assert figures["kerastuner_time_ratio"] == pytest.approx(5.0 / 12.0)
    never = kerastuner_figures(keras_tuner, SearchRun("ours", (trial(0, 0.5, 9, 3.0),), 20.0))
    assert never["kerastuner_time_ratio"] is None


def results() -> dict:
    return {
        "command": "python -m bench --quick", "profile": "quick", "date": "2026-11-21T23:00:00+00:00",
        "commit": "abc1234", "run_seconds": 600.0, "machine": "2-core test CPU", "load": "1.0 → 2.0",
        "setup": "space 'dense'", "overhead_ratio": 1.02, "pruning_epoch_ratio": 0.5, "pruning_best_gap": 0.1,
        "kerastuner_time_ratio": None, "kerastuner_best_val_accuracy": 0.85, "fmnist_search_best_val_accuracy": 0.86,
        "data_warm_load_s": 0.05, "data_load_ratio": 0.1,
    }  # fmt: skip


def test_verdicts() -> None:
    goals = {goal.key: goal for goal in GOALS}
    assert verdict(goals["overhead_ratio"], 1.02) == "met"
    assert "missed" in verdict(goals["pruning_epoch_ratio"], 0.5)
    assert "not reached" in verdict(goals["kerastuner_time_ratio"], None)
    assert verdict(goals["data_load_ratio"], 0.1) == "—"


def test_section_names_every_figure_goal_and_the_command() -> None:
    section = render_section(results())
    assert section.startswith(BEGIN) and section.endswith(END)
    assert "`python -m bench --quick`" in section and "2-core test CPU" in section and "abc1234" in section
    for goal in GOALS:
        assert f"`{goal.key}`" in section
    assert "| `kerastuner_best_val_accuracy` | 0.8500 |" in section
    assert "| 1.020 | ≤ 1.05 | met |" in section


def test_replacing_the_marked_section_keeps_the_rest() -> None:
    document = f"# Benchmarks\n\nintro\n\n{BEGIN}\nold figures\n{END}\n\n## 1. Data\nmore\n"
    updated = replace_marked_section(document, render_section(results()))
    assert "old figures" not in updated and updated.count(BEGIN) == 1 and updated.count(END) == 1
    assert updated.startswith("# Benchmarks\n\nintro\n\n") and updated.endswith(f"{END}\n\n## 1. Data\nmore\n")
    again = replace_marked_section(updated, render_section({**results(), "overhead_ratio": 1.5}))
    assert again.count(BEGIN) == 1 and "| 1.500 | ≤ 1.05 | **missed** |" in again


def test_a_document_without_markers_gets_the_section_appended() -> None:
    updated = replace_marked_section("# Benchmarks\n", render_section(results()))
    assert updated.startswith("# Benchmarks\n\n" + BEGIN) and updated.endswith(END + "\n")


def test_files_written(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "results.json"
    write_results(out, results())
    assert json.loads(out.read_text())["kerastuner_time_ratio"] is None
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text(f"# B\n\n{BEGIN}\n{END}\n\ntail\n")
    update_benchmarks_md(markdown, results())
    text = markdown.read_text()
    assert "overhead_ratio" in text and text.endswith("tail\n")
