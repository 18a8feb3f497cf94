"""The leaderboard: every seed baseline beside the searched bests, measured the same way.

Rows come from the store (``fmnist_baselines``, ``fmnist_exports``) and the files the final
evaluation wrote into each export folder (``report.json``, ``config.json``). Nothing here trains
or reads the test images; a searched best shows a test accuracy only once it was evaluated.
Nothing here prints either: search/ui/leaderboard.py shows what ``read_leaderboard`` returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from search.results.export_config import read_json_object
from spaces.seeds import SeedModel
from storage import redact, resolve_url
from storage.exports import ExportLog
from storage.schema import require_store


@dataclass(frozen=True)
class Row:
    """One line of the leaderboard: a model trained to its end and evaluated on the test set (or not yet)."""

    name: str
    kind: str  # "search" or "seed"
    model: str  # dense or cnn
    validation_accuracy: float | None  # during the search (a trial, maybe on a subset) or the seed's own run
    test_mean: float | None
    test_std: float | None
    n_models: int
    param_count: int | None
    train_seconds: float | None  # training one final model: a 60k retrain, or the seed's run on 55k
    note: str
    reported: str = ""  # what the seed report itself claimed
    test_per_model: tuple[float, ...] = ()
    reported_test: float | None = None  # the seed report's own test accuracy (a fraction), where it gave one


def seed_rows(seeds: list[SeedModel], runs: list[dict[str, Any]]) -> list[Row]:
    """One row per catalog seed that ``baselines`` ran (its latest run); see ``seeds_not_run`` for the others."""
    latest = {run["seed_id"]: run for run in runs}  # runs come oldest first
    rows = []
    for seed in seeds:
        run = latest.get(seed.id)
        if run is None:
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
                f"{cap}{run['epochs_run']} epochs on 55k",
                seed.reported,
                (run["test_accuracy"],),
                seed.reported_test,
            )
        )
    return rows


def seeds_not_run(seeds: list[SeedModel], runs: list[dict[str, Any]]) -> list[str]:
    """The ids of the catalog's seeds that ``baselines`` has not run in this store."""
    done = {run["seed_id"] for run in runs}
    return [seed.id for seed in seeds if seed.id not in done]


def baselines_command(seed_ids: list[str], storage_flag: str = "") -> str:
    """The one command that runs the given seeds."""
    return f"fmnist-search baselines --only {','.join(seed_ids)}{storage_flag}"


def search_rows(exports: list[dict[str, Any]]) -> list[Row]:
    """One row per export folder that still exists (its latest export), with its evaluation when there is one.

    Test accuracy and train time are those of the models retrained on all 60,000 images (the
    export's ``retrain.json``), never the search trial's, which may have trained on a subset.
    """
    latest: dict[str, dict[str, Any]] = {}
    for export in exports:
        latest[export["folder"]] = export
    rows = []
    for folder, export in latest.items():
        config = read_json_object(Path(folder) / "config.json")
        if config is None:
            continue
        report = read_json_object(Path(folder) / "report.json")
        retrain = read_json_object(Path(folder) / "retrain.json") or {}
        accuracy = (report or {}).get("test_accuracy") or {}
        seconds = retrain.get("seconds_per_model") or []
        study, trial = config.get("study"), config.get("trial_number")
        name = f"{study} #{trial}" if study is not None else f"config {export['config_hash'][:12]}"
        subset = (config.get("data_split") or {}).get("search_subset")
        searched = f"; val from a search on {subset:,} images" if subset else ""
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
                sum(seconds) / len(seconds) if seconds else None,
                f"{config.get('epochs')} epochs on 60k{searched}"
                + ("" if report else "; not evaluated yet (fmnist-search evaluate)"),
                "",
                tuple(accuracy.get("per_model", [])),
            )
        )
    return rows


def ranked(rows: list[Row]) -> list[Row]:
    """Grouped by model family (dense, then cnn), best test accuracy first; unevaluated rows last."""
    order = {"dense": 0, "cnn": 1}
    return sorted(
        rows,
        key=lambda r: (
            order.get(r.model, 2),
            r.test_mean is None,
            -(r.test_mean or 0.0),
            -(r.validation_accuracy or 0.0),
        ),
    )


def markdown_table(rows: list[Row], not_run: str = "") -> str:
    """The leaderboard as a Markdown table (for the README); ``not_run``: the line on the seeds not run yet."""
    lines = [
        "| model | kind | name | test acc | train time | val acc | params | notes | reported by the seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.model} | {row.kind} | {row.name} | {format_test(row)} | {format_seconds(row.train_seconds)} | "
            f"{_percent(row.validation_accuracy)} | {format_count(row.param_count)} | {row.note} | "
            f"{row.reported or '—'} |"
        )
    if not_run:
        lines += ["", not_run]
    return "\n".join(lines) + "\n"


def not_run_line(seed_ids: list[str], storage_flag: str = "") -> str:
    """One line naming the seeds not run yet and the command that runs them; empty when none is left."""
    if not seed_ids:
        return ""
    return f"not run yet: {', '.join(seed_ids)}; run them with: {baselines_command(seed_ids, storage_flag)}"


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


def format_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


@dataclass(frozen=True)
class Leaderboard:
    """The ranked rows, the seeds not run yet, and the ``--storage`` flag a command to run them needs."""

    rows: list[Row]
    not_run: list[str]
    storage_flag: str = ""

    def to_data(self) -> dict[str, Any]:
        """As ``leaderboard --json`` prints it: accuracies as fractions, and the command that runs the missing seeds."""
        command = baselines_command(self.not_run, self.storage_flag) if self.not_run else None
        return {"rows": [asdict(row) for row in self.rows], "seeds_not_run": self.not_run, "command": command}


def read_leaderboard(storage_url: str | None) -> Leaderboard:
    """Seeds and searched bests side by side, from the store and the export folders.

    Every row is a final model: test accuracy and the time to train one such model (a 60k
    retrain, or a seed's own run); the seeds not run yet are listed apart.
    """
    from spaces.seeds import load_seeds

    url = resolve_url(storage_url, must_exist=True)
    require_store(url)  # before ExportLog, which would create its tables in any database
    log = ExportLog(url)
    try:
        runs, exports = log.baselines(), log.exports()
    finally:
        log.close()
    seeds = load_seeds()
    rows = ranked(seed_rows(seeds, runs) + search_rows(exports))
    storage_flag = f" --storage '{redact(url)}'" if storage_url else ""
    return Leaderboard(rows, seeds_not_run(seeds, runs), storage_flag)
