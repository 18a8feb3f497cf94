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
from typing import Any

from search.data.loader import TrainValData
from search.results.export_config import HISTORY_FILE, package_versions
from spaces.seeds import SeedModel

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


def train_seed(
    seed: SeedModel, data: TrainValData, max_epochs: int | None = None, listener: EpochListener | None = None
) -> tuple[Any, BaselineRun]:
    """Train one seed model as its report did; returns the model and what was measured."""
    import keras

    from search.engines.record import METRICS  # the same per-epoch history as a search trial's
    from spaces.seeds import build_seed_model

    keras.utils.set_random_seed(BASELINE_SEED)
    model = build_seed_model(seed)
    epochs = planned_epochs(seed, max_epochs)
    callbacks: list[Any] = []
    if seed.training.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=seed.training.early_stopping, restore_best_weights=True
            )
        )
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
    facts = {
        "seed": asdict(seed),
        "run": {k: v for k, v in asdict(run).items() if k != "history"},
        "versions": package_versions(),
    }
    (folder / BASELINE_FILE).write_text(json.dumps(facts, indent=2, default=list) + "\n", encoding="utf-8")
    (folder / HISTORY_FILE).write_text(json.dumps(run.history, indent=1) + "\n", encoding="utf-8")
    return ["model-0.keras", BASELINE_FILE, HISTORY_FILE]
