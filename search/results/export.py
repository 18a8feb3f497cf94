"""Export a study's best trial: its full configuration as JSON, and R models retrained on all 60,000 images.

The search trains on 55,000 images and picks the epoch count on the other 5,000; the export
retrains the winning configuration on all 60,000 for the number of epochs at which the best
trial's validation accuracy peaked (there is no validation set left to choose it again).
Each repeat uses its own seed (the config's seed + repeat index), so the spread of the final
test accuracy over repeats says how much of it is luck of the initialisation.

An export folder holds ``config.json`` (search/results/export_config.py), ``model-{i}.keras`` (raw
uint8 pixels in, class probabilities out; loadable with ``safe_mode=True``) and, when the study
had it, the best trial's per-epoch ``history.json`` for the learning curves; ``retrain.json``
records what the models were trained on and each model file's sha256 with the config's hash, so
``evaluate`` can refuse model files that are not the ones this config produced. The folder is
written whole or not at all (search/results/staging.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from search.data import loader as fmnist_data
from search.errors import ExportError
from search.results.export_config import (
    CONFIG_FILE,
    HISTORY_FILE,
    RETRAIN_FILE,
    ExportConfig,
    best_trial,
    config_from_trial,
    first_line,
    history_beside,
    package_versions,
    read_config,
    read_json_object,
)
from search.results.staging import make_staging, put_in_place

__all__ = [
    "CONFIG_FILE",
    "HISTORY_FILE",
    "RETRAIN_FILE",
    "ExportConfig",
    "ExportError",
    "RetrainListener",
    "best_trial",
    "config_from_trial",
    "default_folder",
    "file_sha256",
    "history_beside",
    "inside",
    "package_versions",
    "read_config",
    "read_json_object",
    "train_model",
    "write_export",
]

# Called after every epoch of a retrain: (repeat index, epochs done in that repeat).
RetrainListener = Callable[[int, int], None]


def default_folder(config: ExportConfig, out: str | Path | None) -> Path:
    """``exports/<study>-<trial>`` under ``out`` (default: the current directory)."""
    name = f"{config.study}-{config.trial_number}" if config.study is not None else f"config-{config.config_hash[:12]}"
    return inside(Path(out or ".") / "exports", name)


def inside(parent: Path, name: str) -> Path:
    """``parent / name``, refused unless it is a plain child of ``parent``.

    An export replaces its folder as a whole (and deletes it first): a name that climbs out
    (``../x``), is absolute, or hides (``.x``) must never choose what gets deleted. The check is
    on the name, not on resolved paths, so an ``exports`` folder that is a symlink still works.
    """
    if not name or name.startswith(".") or "/" in name or "\\" in name or Path(name).name != name:
        raise ExportError(f"export folder name {name!r} would leave {parent}; refusing to write there")
    return parent / name


def train_model(
    config: ExportConfig, images: Any, labels: Any, repeat: int, listener: RetrainListener | None = None
) -> Any:
    """One retrained model (in memory): seed = config seed + repeat, ``config.epochs`` epochs on everything given.

    A learning-rate schedule spans ``config.schedule_epochs`` (the study's maximum) over these
    images, and training stops after ``config.epochs`` of them: the trial's own schedule, cut
    where its validation accuracy peaked (spaces/schedules.py says why).
    """
    import keras

    from search.runtime.choice import compile_options
    from spaces.builders import build_model
    from spaces.label_smoothing import targets
    from spaces.schedules import ScheduleSpan

    keras.utils.set_random_seed(config.seed + repeat)
    params = config.full_params
    span = ScheduleSpan(config.schedule_span_epochs, len(images))
    model = build_model(config.model, params, span, compile_options(config.model))
    callbacks = []
    if listener is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: listener(repeat, epoch + 1)))
    model.fit(
        images,
        targets(params, labels),
        batch_size=config.batch_size,
        epochs=config.epochs,
        verbose=0,
        callbacks=callbacks,
    )
    return model


def write_export(
    config: ExportConfig,
    folder: Path,
    repeats: int,
    data_dir: str | None = None,
    history: dict[str, Any] | None = None,
    listener: RetrainListener | None = None,
) -> list[str]:
    """Write the config (and history), retrain ``repeats`` models on all 60,000 images; return the file names.

    The files go into this run's own staging folder, renamed to ``folder`` only once every model is
    saved: a failure or Ctrl-C part-way leaves ``folder`` as it was (a kill leaves only the staging
    folder, which the next export of the same trial clears). A full disk or any other I/O failure is
    an ExportError, with nothing half-written left behind.
    """
    if repeats < 1:
        raise ExportError(f"repeats must be at least 1, but got {repeats}")
    images, labels = fmnist_data.load_part("train", data_dir)  # all 60,000: the search's split is over
    try:
        staging = make_staging(folder)
    except OSError as error:
        raise _write_failed(folder, error) from error
    try:
        files = _write_files(config, staging, repeats, images, labels, history, listener)
        put_in_place(staging, folder)
    except OSError as error:
        raise _write_failed(folder, error) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # already gone when it was put in place
    return files


def _write_files(
    config: ExportConfig,
    staging: Path,
    repeats: int,
    images: Any,
    labels: Any,
    history: dict[str, Any] | None,
    listener: RetrainListener | None,
) -> list[str]:
    """Every file of the export, into ``staging``; the models' sha256 go into retrain.json, last."""
    (staging / CONFIG_FILE).write_text(config.to_json(), encoding="utf-8")
    files = [CONFIG_FILE]
    if history:
        (staging / HISTORY_FILE).write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
        files.append(HISTORY_FILE)
    seconds = []
    models = []
    for repeat in range(repeats):
        started = time.perf_counter()
        model = train_model(config, images, labels, repeat, listener)
        seconds.append(round(time.perf_counter() - started, 2))
        models.append(f"model-{repeat}.keras")
        model.save(staging / models[-1])
    retrain = {
        "train_images": len(images),
        "epochs": config.epochs,
        "seconds_per_model": seconds,
        # What ties the models to config.json: `evaluate` refuses a model file whose hash is not here.
        "config_hash": config.config_hash,
        "model_sha256": {name: file_sha256(staging / name) for name in models},
    }
    (staging / RETRAIN_FILE).write_text(json.dumps(retrain, indent=2) + "\n", encoding="utf-8")
    return [*files, *models, RETRAIN_FILE]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks (a CNN's model file is tens of megabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_failed(folder: Path, error: OSError) -> ExportError:
    reason = error.strerror or first_line(error)
    where = f" (writing {Path(error.filename).name})" if isinstance(error.filename, str | Path) else ""
    kept = "nothing was written, any earlier export is unchanged"
    return ExportError(f"cannot write the export {folder}: {reason}{where}; {kept}")
