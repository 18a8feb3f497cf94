"""What an export is made of: its configuration (``config.json``), read and checked, and where it comes from.

``ExportConfig`` holds everything needed to retrain a study's best trial without the study: the
builder family, the full params, the epoch at which the trial's validation accuracy peaked, the
weight seed, the data split and the package versions. Its hash (sha256 of the canonical JSON)
ties the retrained models to it. ``best_trial`` and ``config_from_trial`` pick it from a study.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
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
CONFIG_VERSION = 1
_VERSIONED_PACKAGES = ("fmnist-search", "keras", "numpy", "optuna")  # and the Keras backend's


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
            not isinstance(self.schedule_epochs, int)
            or isinstance(self.schedule_epochs, bool)
            or self.schedule_epochs < self.epochs
        ):
            raise ExportError(
                f"schedule_epochs must be an integer of at least epochs={self.epochs}, but got {self.schedule_epochs!r}"
            )
        if self.study is not None:
            try:  # the study's name becomes the export's folder name
                check_study_name(self.study)
            except StudyNameError as error:
                raise ExportError(f"study: {error}") from error
        if self.trial_number is not None and (
            not isinstance(self.trial_number, int) or isinstance(self.trial_number, bool) or self.trial_number < 0
        ):
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
        raise ExportError(f"{path}: corrupt config file ({first_line(error)})") from error
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
        raise ExportError(f"{path}: incomplete config ({first_line(error)})") from error
    except ExportError as error:
        raise ExportError(f"{path}: {error}") from error
    if claimed is not None and claimed != config.config_hash:
        raise ExportError(
            f"{path}: config_hash does not match the contents (edited or corrupted; delete config_hash to accept edits)"
        )
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


def history_beside(config_path: Path) -> dict[str, Any] | None:
    """A config exported earlier may sit beside the best trial's history; keep it with the new export."""
    source = config_path.parent / HISTORY_FILE
    if not source.is_file():
        return None
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # the curves are a nicety; a damaged copy is not worth failing the export


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
