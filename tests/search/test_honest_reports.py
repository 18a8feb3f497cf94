"""The final evaluation says what its models were trained on, and when its confusion matrix pools several models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search.results import evaluation
from tests.search.cli_helpers import invoke


@pytest.mark.slow
def test_a_subset_study_is_reported_as_one(tiny_data_dir, tmp_path: Path, monkeypatch) -> None:
    data = tiny_data_dir()
    common = ("--data-dir", str(data), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert (
        invoke("start", "--space", "dense", "--trials", "1", "--epochs", "1", "--subset", "50", *common).exit_code == 0
    )
    assert invoke("export", "--space", "dense", "--repeats", "2", "--out", str(tmp_path), *common).exit_code == 0
    titles: list[str] = []
    original = evaluation.render_confusion_matrix

    def recording(matrix: np.ndarray, path: Path, n_models: int = 1) -> Path:
        titles.append(evaluation.matrix_title(n_models))
        return original(matrix, path, n_models)

    curve_titles: list[str] = []
    from search.engines import trial_files as trial_report

    drawn = trial_report.render_learning_curve
    monkeypatch.setattr(evaluation, "render_confusion_matrix", recording)
    monkeypatch.setattr(
        trial_report,
        "render_learning_curve",
        lambda history, title, path: (curve_titles.append(title), drawn(history, title, path))[1],
    )
    folder = tmp_path / "exports" / "dense-0"
    assert invoke("evaluate", str(folder), *common).exit_code == 0

    report = json.loads((folder / "report.json").read_text())
    trained = report["trained_on"]
    assert trained["train_images"] == 120 and trained["epochs"] == 1 and trained["search_train_images"] == 50
    assert "50-image subset" in trained["text"] and "retrained for 1 epochs" in trained["text"]
    summary = (folder / "summary.md").read_text()
    assert trained["text"] in summary and "pooled over 2 models" in summary
    assert "summed over 2 models" in report["confusion_matrix_note"]
    per_model = np.array(report["confusion_matrix_per_model"])
    assert per_model.shape == (2, 10, 10) and (per_model.sum(axis=0) == np.array(report["confusion_matrix"])).all()
    assert per_model[0].sum() == report["test_images"]  # each model's rows sum to the test set once
    assert titles == ["Confusion matrix on the test set, pooled over 2 models"]
    assert curve_titles == ["best trial during the search (50 train / 5,000 validation)"]


def test_one_model_needs_no_pooling_and_an_unknown_model_says_so(tmp_path: Path) -> None:
    assert evaluation.matrix_title(1) == "Confusion matrix on the test set"
    assert evaluation.trained_on(tmp_path, None)["text"].startswith("unknown")
    (tmp_path / "baseline.json").write_text(json.dumps({"run": {"epochs_run": 7}}))
    facts = evaluation.trained_on(tmp_path, None)
    assert facts["epochs"] == 7 and "55,000 train images" in facts["text"]
