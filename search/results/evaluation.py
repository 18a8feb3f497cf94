"""The final evaluation: the only code that reads the 10,000 sealed test images.

Given an export folder (or one ``.keras`` file), every model is loaded with ``safe_mode=True``
and fed the raw uint8 test pixels. Into the folder go ``report.json`` (test accuracy as a
fraction, mean and std over the repeats; per-class precision, recall and F1 and the confusion
matrix, both over all repeats' predictions together), ``confusion_matrix.png``,
``learning_curves.png`` (when the export has the best trial's history) and ``summary.md``.

The model files are checked first (search/results/model_files.py): an export's must be the ones
its config produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.data import loader as fmnist_data
from search.errors import ExportError
from search.results.baselines import BASELINE_FILE
from search.results.export_config import (
    HISTORY_FILE,
    RETRAIN_FILE,
    read_json_object,
)
from search.results.model_files import checked_export, load_model
from search.results.view import percent_of

REPORT_FILE = "report.json"
CONFUSION_FILE = "confusion_matrix.png"
CURVES_FILE = "learning_curves.png"
SUMMARY_FILE = "summary.md"


@dataclass(frozen=True)
class Evaluation:
    """What ``report.json`` holds, plus where it was written."""

    folder: Path
    report: dict[str, Any]
    config_hash: str | None
    shown_on: str | None = None  # the trial whose dashboard page shows it ("trial 3 of study 'cnn'"), if any

    @property
    def test_accuracy(self) -> float:
        """Mean test accuracy over the export's models, as a fraction."""
        return float(self.report["test_accuracy"]["mean"])


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def per_class_metrics(matrix: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall and F1 per class from a confusion matrix; 0 where a ratio is undefined."""
    true_positive = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(both), where=both > 0)
    return [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(fmnist_data.CLASS_NAMES, precision, recall, f1, actual, strict=True)
    ]


def predict_classes(model: Any, images: np.ndarray) -> np.ndarray:
    """Class indices for raw uint8 images: the model rescales them itself."""
    return np.argmax(model.predict(images, batch_size=1024, verbose=0), axis=1)


def build_report(
    models: list[Path], labels: np.ndarray, predictions: list[np.ndarray], param_count: int
) -> dict[str, Any]:
    """report.json's contents; the confusion matrix and per-class metrics pool every repeat's predictions
    (each model's own matrix is kept beside them)."""
    accuracies = [float(np.mean(p == labels)) for p in predictions]
    n_classes = len(fmnist_data.CLASS_NAMES)
    per_model = [confusion_matrix(labels, p, n_classes) for p in predictions]
    matrix = sum(per_model)
    pooled = (
        f"summed over {len(models)} models ({len(models) * len(labels):,} predictions)"
        if len(models) > 1
        else "one model"
    )
    return {
        "test_accuracy": {
            "mean": float(np.mean(accuracies)),
            "std": float(np.std(accuracies)),
            "per_model": accuracies,
        },
        "models": [m.name for m in models],
        "test_images": len(labels),
        "parameter_count": param_count,
        "per_class": per_class_metrics(matrix),
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_note": f"rows true class, columns predicted class; {pooled}",
        "confusion_matrix_per_model": [m.tolist() for m in per_model],
        "class_names": list(fmnist_data.CLASS_NAMES),
    }


def matrix_title(n_models: int) -> str:
    """Says when the counts are several models' predictions added up (each row then sums to N x 1,000)."""
    return "Confusion matrix on the test set" + (f", pooled over {n_models} models" if n_models > 1 else "")


def trained_on(folder: Path, config: Any | None) -> dict[str, Any]:
    """What the evaluated models were trained on, from the files beside them: images, epochs, and a sentence."""
    if config is not None:
        retrain = read_json_object(folder / RETRAIN_FILE) or {}
        subset = (config.data_split or {}).get("search_subset")
        searched = (
            f"a stratified {subset:,}-image subset of the 55,000 train images" if subset else "the 55,000 train images"
        )
        images = retrain.get("train_images", 60_000)
        return {
            "train_images": images,
            "epochs": config.epochs,
            "search_train_images": subset or 55_000,
            "text": f"retrained for {config.epochs} epochs on {_images(images)} training images; "
            f"the search that chose it trained on {searched}",
        }
    baseline = read_json_object(folder / BASELINE_FILE)
    if baseline is not None:
        run = baseline.get("run", {})
        return {
            "train_images": 55_000,
            "epochs": run.get("epochs_run"),
            "search_train_images": None,
            "text": f"seed baseline trained for {run.get('epochs_run')} epochs on the search's 55,000 train images",
        }
    return {
        "train_images": None,
        "epochs": None,
        "search_train_images": None,
        "text": "unknown (no config.json or baseline.json beside the model)",
    }


def render_confusion_matrix(matrix: np.ndarray, path: Path, n_models: int = 1) -> Path:
    """The confusion matrix as a labelled heat map (row-normalised colours, raw counts written in)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 7), dpi=80)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    names = fmnist_data.CLASS_NAMES
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if shares[row, column] > 0.5 else "black",
        )
    axes.set_title(matrix_title(n_models))
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def summary_markdown(report: dict[str, Any], config: dict[str, Any] | None) -> str:
    """A short human summary of report.json."""
    accuracy = report["test_accuracy"]
    lines = ["# Final evaluation", ""]
    if config and config.get("study") is not None:
        lines.append(f"Study `{config['study']}`, trial {config['trial_number']}.")
        lines.append("")
    n_models = len(report["models"])
    lines += [
        f"- test accuracy: **{percent_of(accuracy['mean'], accuracy['std'])}** over {n_models} model(s) "
        f"({report['test_images']:,} test images)",
        f"- trained on: {report['trained_on']['text']}",
        f"- parameters: {report['parameter_count']:,}",
        "",
        "| class | precision | recall | F1 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c['class']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} |" for c in report["per_class"]
    ]
    pooled = (
        f"pooled over {n_models} models (each row sums to {n_models} x the class's test images)"
        if n_models > 1
        else "one model"
    )
    lines += ["", f"Per-class figures and the confusion matrix `{CONFUSION_FILE}`: {pooled}; data: `{REPORT_FILE}`."]
    return "\n".join(lines) + "\n"


def evaluate(path: Path, data_dir: str | None = None) -> Evaluation:
    """Evaluate every model of an export on the test set and write the report files into its folder."""
    folder, models, config, hashes = checked_export(path)
    loaded = [load_model(m) for m in models]  # all of them first: a damaged file fails before the test set is read
    images, labels = fmnist_data.load_test(data_dir)
    predictions = [predict_classes(model, images) for model in loaded]
    report = build_report(models, labels, predictions, int(loaded[0].count_params()))
    report["trained_on"] = trained_on(folder, config)
    if config is not None:
        report["config_hash"] = config.config_hash
        report["model_sha256"] = hashes
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    render_confusion_matrix(np.array(report["confusion_matrix"]), folder / CONFUSION_FILE, len(models))
    _render_curves(folder, report["trained_on"])
    (folder / SUMMARY_FILE).write_text(summary_markdown(report, config.to_data() if config else None), encoding="utf-8")
    return Evaluation(folder, report, config.config_hash if config else None)


def _render_curves(folder: Path, trained: dict[str, Any]) -> None:
    """The best trial's learning curves, drawn by the same code as the dashboard's."""
    from search.engines.trial_files import render_learning_curve

    source = folder / HISTORY_FILE
    if not source.is_file():
        return
    try:
        history = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{source}: corrupt history file ({error})") from error
    what = "seed baseline" if (folder / BASELINE_FILE).is_file() else "best trial during the search"
    train = trained.get("search_train_images") or trained.get("train_images")
    images = f"{train:,} train / 5,000 validation" if train else "training data unknown"
    render_learning_curve(history, f"{what} ({images})", folder / CURVES_FILE)


def _images(count: int) -> str:
    return "all 60,000" if count == 60_000 else f"{count:,}"
