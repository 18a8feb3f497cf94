"""The leaderboard: every seed baseline beside the searched bests, measured the same way.

Rows come from the store (``fmnist_baselines``, ``fmnist_exports``) and the files the final
evaluation wrote into each export folder (``report.json``, ``config.json``). Nothing here trains
or reads the test images; a searched best shows a test accuracy only once it was evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spaces.seeds import SeedModel


@dataclass(frozen=True)
class Row:
    """One line of the leaderboard."""

    name: str
    kind: str  # "search" or "seed"
    model: str  # dense or cnn
    validation_accuracy: float | None
    test_mean: float | None
    test_std: float | None
    n_models: int
    param_count: int | None
    train_seconds: float | None
    note: str
    reported: str = ""  # what the seed report itself claimed


def seed_rows(seeds: list[SeedModel], runs: list[dict[str, Any]]) -> list[Row]:
    """One row per catalog seed: its latest baseline run, or the reported figures only when never run."""
    latest = {run["seed_id"]: run for run in runs}  # runs come oldest first
    rows = []
    for seed in seeds:
        run = latest.get(seed.id)
        if run is None:
            rows.append(Row(seed.id, "seed", seed.model, None, None, None, 0, None, None, "not run yet", seed.reported))
            continue
        cap = f"capped at {run['epochs_cap']} of {seed.training.epochs} epochs; " if run["epochs_cap"] else ""
        rows.append(
            Row(
                seed.id,
                "seed",
                seed.model,
                run["validation_accuracy"],
                run["test_accuracy"],
                None,
                1,
                run["param_count"],
                run["train_seconds"],
                f"{cap}{run['epochs_run']} epochs",
                seed.reported,
            )
        )
    return rows


def search_rows(exports: list[dict[str, Any]], train_seconds: dict[tuple[str, int], float]) -> list[Row]:
    """One row per export folder that still exists (its latest export), with its evaluation when there is one.

    ``train_seconds`` maps (study, trial number) to the best trial's training time in the search.
    """
    latest: dict[str, dict[str, Any]] = {}
    for export in exports:
        latest[export["folder"]] = export
    rows = []
    for folder, export in latest.items():
        config = _read_json(Path(folder) / "config.json")
        if config is None:
            continue
        report = _read_json(Path(folder) / "report.json")
        accuracy = (report or {}).get("test_accuracy") or {}
        study, trial = config.get("study"), config.get("trial_number")
        name = f"{study} #{trial}" if study is not None else f"config {export['config_hash'][:12]}"
        rows.append(
            Row(
                name,
                "search",
                str(config.get("model")),
                config.get("validation_accuracy"),
                accuracy.get("mean"),
                accuracy.get("std"),
                len(accuracy.get("per_model", [])),
                (report or {}).get("parameter_count"),
                train_seconds.get((study, trial)) if study is not None else None,
                f"{config.get('epochs')} epochs on 60k" + ("" if report else "; not evaluated yet (fmnist-search evaluate)"),
            )
        )
    return rows


def ranked(rows: list[Row]) -> list[Row]:
    """Grouped by model family (dense, then cnn), best test accuracy first; unevaluated rows last."""
    order = {"dense": 0, "cnn": 1}
    return sorted(rows, key=lambda r: (order.get(r.model, 2), r.test_mean is None, -(r.test_mean or 0.0), -(r.validation_accuracy or 0.0)))


def markdown_table(rows: list[Row]) -> str:
    """The leaderboard as a Markdown table (for the README)."""
    lines = [
        "| model | kind | name | val acc | test acc | params | train time | notes | reported by the seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.model} | {row.kind} | {row.name} | {_percent(row.validation_accuracy)} | {format_test(row)} | "
            f"{_count(row.param_count)} | {_seconds(row.train_seconds)} | {row.note} | {row.reported or '—'} |"
        )
    return "\n".join(lines) + "\n"


def format_test(row: Row, with_models: bool = True) -> str:
    """``92.31 %``, or ``92.31 ± 0.12 % (3 models)`` for several retrains."""
    if row.test_mean is None:
        return "—"
    if row.n_models > 1 and row.test_std is not None:
        models = f" ({row.n_models} models)" if with_models else ""
        return f"{100 * row.test_mean:.2f} ± {100 * row.test_std:.2f} %{models}"
    return f"{100 * row.test_mean:.2f} %"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
