"""Export a study's best trial: its full configuration as JSON, and R models retrained on all 60,000 images.

The search trains on 55,000 images and picks the epoch count on the other 5,000; the export
retrains the winning configuration on all 60,000 for the number of epochs at which the best
trial's validation accuracy peaked (there is no validation set left to choose it again).
Each repeat uses its own seed (the config's seed + repeat index), so the spread of the final
test accuracy over repeats says how much of it is luck of the initialisation.

An export folder holds ``config.json``, ``model-{i}.keras`` (raw uint8 pixels in, class
probabilities out; loadable with ``safe_mode=True``) and, when the study had it, the best
trial's per-epoch ``history.json`` for the learning curves; ``retrain.json`` records what the
models were trained on and each model file's sha256 with the config's hash, so ``evaluate`` can
refuse model files that are not the ones this config produced.

An export is written whole or not at all, by one run only: everything goes into a staging folder
of this run's own (``<folder>.partial-<host>-<pid>-<random>``), which is renamed into place once
the last model is saved. A failure or Ctrl-C part-way leaves the previous export (or nothing) in
place; of two runs exporting into one folder at once, each places a whole folder or fails in one line.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna

from search.data import loader as fmnist_data
from search.errors import ExportError
from search.study.names import StudyNameError, check_study_name
from spaces.families import FAMILIES, check_params, with_later_keys

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
RETRAIN_FILE = "retrain.json"  # what each model was trained on, and how long it took
PARTIAL_SUFFIX = ".partial"  # staging folders: <folder>.partial-<host>-<pid>-<random>
CONFIG_VERSION = 1
_VERSIONED_PACKAGES = ("fmnist-search", "keras", "numpy", "optuna")  # and the Keras backend's

# Called after every epoch of a retrain: (repeat index, epochs done in that repeat).
RetrainListener = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportConfig:
    """Everything needed to retrain the best trial's model without the study."""

    model: str  # the builder family: dense or cnn
    params: dict[str, Any]
    epochs: int
    batch_size: int
    seed: int
    study: str | None = None
    trial_number: int | None = None
    space: dict[str, Any] | None = None
    validation_accuracy: float | None = None
    data_split: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    format_version: int = CONFIG_VERSION
    # The epochs a learning-rate schedule spans: the study's maximum (--epochs), while ``epochs``
    # is where the trial peaked, so the retrain repeats the first ``epochs`` epochs of the
    # trial's own schedule (spaces/schedules.py). None: a config from before schedules (constant).
    schedule_epochs: int | None = None

    def __post_init__(self) -> None:
        if self.model not in FAMILIES:
            raise ExportError(f"model must be one of {sorted(FAMILIES)}, but got {self.model!r}")
        try:  # params written before the later keys existed lack them: they mean "off"
            check_params(self.model, self.full_params)
        except ValueError as error:
            raise ExportError(f"params: {error}") from error
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ExportError(f"{name} must be a positive integer, but got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ExportError(f"seed must be an integer, but got {self.seed!r}")
        if self.schedule_epochs is not None and (
            not isinstance(self.schedule_epochs, int) or isinstance(self.schedule_epochs, bool) or self.schedule_epochs < self.epochs
        ):
            raise ExportError(f"schedule_epochs must be an integer of at least epochs={self.epochs}, but got {self.schedule_epochs!r}")
        if self.study is not None:
            try:  # the study's name becomes the export's folder name
                check_study_name(self.study)
            except StudyNameError as error:
                raise ExportError(f"study: {error}") from error
        if self.trial_number is not None and (not isinstance(self.trial_number, int) or isinstance(self.trial_number, bool) or self.trial_number < 0):
            raise ExportError(f"trial_number must be a non-negative integer, but got {self.trial_number!r}")

    @property
    def full_params(self) -> dict[str, Any]:
        """The params with the keys added since the config was written at their defaults ("off")."""
        return with_later_keys(self.model, self.params)

    @property
    def schedule_span_epochs(self) -> int:
        """The epochs the learning-rate schedule spans (``epochs`` for a config from before schedules)."""
        return self.schedule_epochs if self.schedule_epochs is not None else self.epochs

    def to_data(self) -> dict[str, Any]:
        """The config as plain JSON data, without its hash.

        An unset ``schedule_epochs`` is left out, so a config written before it existed keeps its hash.
        """
        data = asdict(self)
        if data["schedule_epochs"] is None:
            del data["schedule_epochs"]
        return data

    @property
    def config_hash(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no spaces): the same config has the same hash anywhere."""
        canonical = json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps({**self.to_data(), "config_hash": self.config_hash}, indent=2, sort_keys=True) + "\n"


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file beside a model (config, report, retrain times); None if missing or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_config(path: Path) -> ExportConfig:
    """Load and check a ``config.json``; a hash that does not match its contents is refused."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ExportError(f"{path}: no such config file") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: corrupt config file ({_first_line(error)})") from error
    if not isinstance(data, dict):
        raise ExportError(f"{path}: corrupt config file (expected a JSON object)")
    claimed = data.pop("config_hash", None)
    known = set(ExportConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ExportError(f"{path}: unknown key {unknown[0]!r} in config")
    try:
        config = ExportConfig(**data)
    except TypeError as error:
        raise ExportError(f"{path}: incomplete config ({_first_line(error)})") from error
    except ExportError as error:
        raise ExportError(f"{path}: {error}") from error
    if claimed is not None and claimed != config.config_hash:
        raise ExportError(f"{path}: config_hash does not match the contents (edited or corrupted; delete config_hash to accept edits)")
    return config


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide what a retrain produces."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    versions = {"python": platform.python_version(), "keras_backend": backend}
    for name in (*_VERSIONED_PACKAGES, backend):  # each backend's package has its name: tensorflow, jax, torch
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def data_split_description() -> dict[str, Any]:
    """How the search split the data, and what the retrain trains on."""
    return {
        "search_train_images": "55,000 (60,000 minus the validation set)",
        "search_validation_images": "5,000 (500 per class, stratified)",
        "split_seed": fmnist_data.SPLIT_SEED,
        "validation_fraction": fmnist_data.VALIDATION_FRACTION,
        "retrain_images": "all 60,000 training images",
        "test_images": "10,000, read only by `fmnist-search evaluate`",
    }


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The study's best complete trial; a study without one cannot be exported."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ExportError(f"study {study.study_name!r} has no complete trial yet; nothing to export")
    return max(complete, key=lambda t: (t.value, -t.number))


def config_from_trial(study_name: str, settings: Any, trial: optuna.trial.FrozenTrial) -> ExportConfig:
    """The best trial's config: its full params, the epoch it peaked at, its weight seed."""
    params = settings.space.complete(trial.params)
    data_split = {**data_split_description(), "search_subset": settings.subset}
    return ExportConfig(
        model=settings.space.model,
        params=params,
        epochs=int(trial.user_attrs.get("best_epoch") or settings.max_epochs),
        schedule_epochs=settings.max_epochs,
        batch_size=int(params["batch_size"]),
        seed=settings.seed + trial.number,  # the seed the trial's own weights were drawn with
        study=study_name,
        trial_number=trial.number,
        space=settings.space.to_data(),
        validation_accuracy=trial.value,
        data_split=data_split,
        versions=package_versions(),
    )


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


def train_model(config: ExportConfig, images: Any, labels: Any, repeat: int, listener: RetrainListener | None = None) -> Any:
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
    model.fit(images, targets(params, labels), batch_size=config.batch_size, epochs=config.epochs, verbose=0, callbacks=callbacks)
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


def make_staging(folder: Path) -> Path:
    """A new empty folder beside ``folder`` that only this run writes into; killed runs' leftovers are cleared first."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_staging(folder)
    staging = folder.with_name(_run_prefix(folder) + secrets.token_hex(4))
    staging.mkdir()  # not tempfile.mkdtemp: its 0700 would become the export's own permissions
    return staging


def put_in_place(staging: Path, folder: Path) -> None:
    """Rename the finished ``staging`` to ``folder``, replacing a previous export there only once this one is in.

    A rename onto a folder that holds files fails, so when another run has put its folder there
    since this one set the previous export aside, that run's export stays and this one is dropped.
    """
    previous = set_aside(folder)
    try:
        staging.rename(folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if previous is not None:
            _restore(previous, folder)
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            lost = f"another export into {folder} finished while this one was writing; kept that one"
            raise ExportError(lost) from error
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def set_aside(folder: Path) -> Path | None:
    """Move a previous export out of the way under this run's staging prefix (cleared like staging if the run dies)."""
    aside = folder.with_name(f"{_run_prefix(folder)}{secrets.token_hex(4)}.previous")
    try:
        folder.rename(aside)
    except FileNotFoundError:
        return None
    return aside


def _restore(previous: Path, folder: Path) -> None:
    """Put the previous export back; if another run's export is there now, that one is newer and stays."""
    try:
        previous.rename(folder)
    except OSError:
        shutil.rmtree(previous, ignore_errors=True)


def clear_stale_staging(folder: Path) -> None:
    """Remove staging folders of ``folder`` left by killed runs on this host (and the shared one of earlier versions).

    A folder whose run is still alive is left alone: it may be a concurrent export of the same trial.
    A previous export that a killed run had set aside, with nothing put in its place, is put back.
    """
    shutil.rmtree(folder.with_name(folder.name + PARTIAL_SUFFIX), ignore_errors=True)
    prefix = f"{folder.name}{PARTIAL_SUFFIX}-"
    for path in folder.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        owner = path.name[len(prefix) :].rsplit("-", 2)
        if len(owner) != 3 or owner[0] != _host() or not owner[1].isdigit() or _alive(int(owner[1])):
            continue
        if path.name.endswith(".previous") and not folder.exists():
            _restore(path, folder)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _run_prefix(folder: Path) -> str:
    return f"{folder.name}{PARTIAL_SUFFIX}-{_host()}-{os.getpid()}-"


def _host() -> str:
    """This machine's name, in the characters a staging folder's name may hold (no dashes: they separate its parts)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but belongs to someone else
    return True


def _write_failed(folder: Path, error: OSError) -> ExportError:
    reason = error.strerror or _first_line(error)
    where = f" (writing {Path(error.filename).name})" if isinstance(error.filename, str | Path) else ""
    kept = "nothing was written, any earlier export is unchanged"
    return ExportError(f"cannot write the export {folder}: {reason}{where}; {kept}")


def history_beside(config_path: Path) -> dict[str, Any] | None:
    """A config exported earlier may sit beside the best trial's history; keep it with the new export."""
    source = config_path.parent / HISTORY_FILE
    if not source.is_file():
        return None
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # the curves are a nicety; a damaged copy is not worth failing the export


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

