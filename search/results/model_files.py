"""The model files of an export folder, checked before anything reads the test set.

An export's report carries its ``config_hash``, so its models must be the ones that config
produced: each model file's sha256 must match the one the export recorded in ``retrain.json``
beside the same config hash, or nothing is evaluated. Exports made before the hashes were
recorded are refused with how to re-export them; a lone model or a baseline (no ``config.json``)
claims no config and is taken as it is.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from search.errors import ExportError
from search.results.export import file_sha256
from search.results.export_config import CONFIG_FILE, RETRAIN_FILE, ExportConfig, read_config, read_json_object


def find_models(path: Path) -> tuple[Path, list[Path]]:
    """(folder to write into, the models to evaluate); anything that is not an export is refused."""
    if path.is_file() and path.suffix == ".keras":
        return path.parent, [path]
    if path.is_dir():
        models = sorted(path.glob("model-*.keras"), key=lambda p: _repeat_index(p))
        if models:
            return path, models
        raise ExportError(
            f"{path} is not an export: it holds no model-*.keras files (make one with `fmnist-search export`)"
        )
    if not path.exists():
        raise ExportError(f"{path} does not exist")
    raise ExportError(f"{path} is not an export: give an export folder or a .keras file")


def check_models(folder: Path, config: ExportConfig, models: list[Path], whole_folder: bool) -> dict[str, str]:
    """Each model's recorded sha256; refuses a model the export did not write, or one changed since.

    ``whole_folder``: the folder was given, so every model the export wrote must be there too.
    """
    manifest = read_json_object(folder / RETRAIN_FILE) or {}
    recorded = manifest.get("model_sha256")
    redo = f"re-export it: fmnist-search export --from-config {folder / CONFIG_FILE}"
    if not isinstance(recorded, dict) or not recorded:
        raise ExportError(f"{folder}: no sha256 of its models recorded, so they cannot be tied to config.json; {redo}")
    if manifest.get("config_hash") != config.config_hash:
        raise ExportError(f"{folder / RETRAIN_FILE}: config_hash is not config.json's: another export's models; {redo}")
    for model in models:
        if model.name not in recorded:
            raise ExportError(f"{model}: not one of the models this export wrote ({', '.join(sorted(recorded))})")
        if _sha256(model) != recorded[model.name]:
            raise ExportError(f"{model}: its sha256 is not the one the export recorded (replaced or changed); {redo}")
    missing = sorted(set(recorded) - {model.name for model in models}) if whole_folder else []
    if missing:
        raise ExportError(f"{folder / missing[0]}: missing, but the export wrote it; {redo}")
    return {model.name: recorded[model.name] for model in models}


def _sha256(model: Path) -> str:
    try:
        return file_sha256(model)
    except OSError as error:
        raise ExportError(f"{model}: cannot read the model ({error.strerror or error})") from error


def checked_export(path: Path) -> tuple[Path, list[Path], ExportConfig | None, dict[str, str] | None]:
    """(folder, models, config, the models' sha256): what ``evaluate`` may read, checked before Keras loads it."""
    folder, models = find_models(path)
    if not (folder / CONFIG_FILE).is_file():
        return folder, models, None, None
    config = read_config(folder / CONFIG_FILE)
    return folder, models, config, check_models(folder, config, models, whole_folder=path.is_dir())


def _repeat_index(path: Path) -> int:
    suffix = path.stem.removeprefix("model-")
    return int(suffix) if suffix.isdigit() else 1 << 30


def load_model(path: Path) -> Any:
    """A saved model, loaded without running any code it carries; a damaged file is an ExportError."""
    import keras

    # Keras says "File not found" of a .keras file that is there but not a whole zip archive.
    if not zipfile.is_zipfile(path):
        raise ExportError(f"{path}: cannot load the model (damaged or truncated: not a complete .keras archive)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - zip, h5, JSON and Keras errors all mean "not a usable model"
        text = str(error).strip().splitlines()
        raise ExportError(f"{path}: cannot load the model ({text[0] if text else type(error).__name__})") from error
