"""Train the seed reports' models as baselines, on the search's own split, measured like the search's bests.

Each seed model (``spaces/seeds.toml``) is trained on the same 55,000 images the search trains
on, with the seed's own optimizer, batch size, epochs and early stopping, and scored on the same
5,000 validation images. Its model is then saved as a one-model export folder and evaluated on
the test set by the same final evaluation as an exported best (``search/results/evaluation.py``, the only
code that reads the test images): the leaderboard compares like with like.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.data import loader as fmnist_data
from search.data.loader import TrainValData
from search.results.export import HISTORY_FILE, package_versions
from search.ui.console import epoch_progress
from spaces.seeds import SeedModel
from storage import resolve_url
from storage.exports import ExportLog

if TYPE_CHECKING:
    from rich.console import Console

BASELINE_FILE = "baseline.json"
BASELINE_SEED = 0  # weight seed: baselines are single runs, as the seeds reported them

# (epoch just finished, epochs planned)
EpochListener = Callable[[int, int], None]


@dataclass(frozen=True)
class BaselineRun:
    """What training one seed model measured on the validation set."""

    seed_id: str
    model: str
    epochs_run: int
    epochs_cap: int | None
    validation_accuracy: float
    param_count: int
    train_seconds: float
    history: dict[str, list[float]]


def planned_epochs(seed: SeedModel, max_epochs: int | None) -> int:
    """The seed's own epoch count, or ``max_epochs`` when that is lower (say so in the results)."""
    return min(seed.training.epochs, max_epochs) if max_epochs else seed.training.epochs


def train_seed(seed: SeedModel, data: TrainValData, max_epochs: int | None = None, listener: EpochListener | None = None) -> tuple[Any, BaselineRun]:
    """Train one seed model as its report did; returns the model and what was measured."""
    import keras

    from search.engines.record import METRICS  # the same per-epoch history as a search trial's
    from spaces.seeds import build_seed_model

    keras.utils.set_random_seed(BASELINE_SEED)
    model = build_seed_model(seed)
    epochs = planned_epochs(seed, max_epochs)
    callbacks: list[Any] = []
    if seed.training.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=seed.training.early_stopping, restore_best_weights=True))
    if listener is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: listener(epoch + 1, epochs)))
    started = time.perf_counter()
    fitted = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        batch_size=min(seed.training.batch_size, len(data.x_train)),
        epochs=epochs,
        callbacks=callbacks,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    # The weights kept (the last epoch's, or the best one's with early stopping) scored once more.
    _, accuracy = model.evaluate(data.x_val, data.y_val, batch_size=1024, verbose=0)
    history = {name: [float(v) for v in fitted.history.get(name, [])] for name in METRICS}
    run = BaselineRun(
        seed_id=seed.id,
        model=seed.model,
        epochs_run=len(history["val_accuracy"]),
        epochs_cap=max_epochs if max_epochs and max_epochs < seed.training.epochs else None,
        validation_accuracy=float(accuracy),
        param_count=int(model.count_params()),
        train_seconds=seconds,
        history=history,
    )
    return model, run


def baseline_folder(seed: SeedModel, out: str | Path | None) -> Path:
    """``exports/baselines/<seed id>`` under ``out`` (default: the current directory)."""
    return Path(out or ".") / "exports" / "baselines" / seed.id


def write_baseline(seed: SeedModel, run: BaselineRun, model: Any, folder: Path) -> list[str]:
    """Save the trained seed model as a one-model export folder, with what it is and how it trained."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("model-*.keras"):
        stale.unlink()
    model.save(folder / "model-0.keras")
    facts = {"seed": asdict(seed), "run": {k: v for k, v in asdict(run).items() if k != "history"}, "versions": package_versions()}
    (folder / BASELINE_FILE).write_text(json.dumps(facts, indent=2, default=list) + "\n", encoding="utf-8")
    (folder / HISTORY_FILE).write_text(json.dumps(run.history, indent=1) + "\n", encoding="utf-8")
    return ["model-0.keras", BASELINE_FILE, HISTORY_FILE]


def train_baselines(console: Console, *, only: list[str] | None, max_epochs: int | None, out: str | None, storage_url: str | None, data_dir: str | None, verbose: bool) -> None:
    """Train each seed model on the search's split, evaluate it like an export, record it."""
    from search.runtime.quiet import import_keras
    from spaces.seeds import load_seeds, select_seeds

    chosen = select_seeds(load_seeds(), only)
    url = resolve_url(storage_url)
    ExportLog(url).close()  # an unreachable store fails before hours of training, not after
    data = fmnist_data.load_train_val(data_dir)
    fmnist_data.locate("test", data_dir)  # a missing test file fails now, not after the training
    import_keras(verbose)
    for seed in chosen:
        _train_one_baseline(console, seed, data, max_epochs, out, url, data_dir)
    console.print("compare with the searched bests: fmnist-search leaderboard", highlight=False)


def _train_one_baseline(console: Console, seed: SeedModel, data: fmnist_data.TrainValData, max_epochs: int | None, out: str | None, url: str, data_dir: str | None) -> None:
    """Train, save, evaluate and record one seed model, with a progress bar over its epochs."""
    from search.results import evaluation as evaluate

    with epoch_progress(console) as progress:
        task = progress.add_task(f"{seed.id} ({seed.model})", total=planned_epochs(seed, max_epochs))
        model, run = train_seed(seed, data, max_epochs, lambda done, _: progress.update(task, completed=done))
    folder = baseline_folder(seed, out)
    write_baseline(seed, run, model, folder)
    test = evaluate.evaluate(folder, data_dir).report["test_accuracy"]["mean"]
    log = ExportLog(url)
    try:
        log.record_baseline(
            seed_id=seed.id,
            model=seed.model,
            epochs_run=run.epochs_run,
            epochs_cap=run.epochs_cap,
            validation_accuracy=run.validation_accuracy,
            test_accuracy=test,
            param_count=run.param_count,
            train_seconds=run.train_seconds,
            folder=str(folder.resolve()),
        )
    finally:
        log.close()
    capped = f" (capped from {seed.training.epochs})" if run.epochs_cap else ""
    console.print(
        f"{seed.id}: val {run.validation_accuracy:.4f}, test {test:.4f}, {run.param_count:,} params, "
        f"{run.epochs_run} epochs{capped} in {run.train_seconds:.0f} s; files in {folder}",
        highlight=False,
    )
