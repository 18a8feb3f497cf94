"""The seed reports' models (``seeds.toml``): their catalog, their Keras builder, and where they sit in a space.

A seed model is declared as a list of layers plus its own training settings, so it is trained as
its report describes rather than forced into a space. Each one that has a near point in the
built-in space of its family also carries it as ``space_params``: that is what
``start --warm-start seeds`` enqueues.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spaces.families import ACTIVATIONS, FAMILIES, check_params, with_later_keys
from spaces.params import SpaceError
from spaces.space import Space

SEEDS_FILE = Path(__file__).with_name("seeds.toml")
SEED_OPTIMIZERS = ("sgd", "adam")

# For each layer type: its keys, with the check each value must pass and whether it is required.
_LAYER_KEYS: dict[str, dict[str, tuple[str, bool]]] = {
    "dense": {"units": ("positive int", True), "activation": ("activation", True), "l2": ("fraction", False)},
    "conv": {
        "filters": ("positive int", True),
        "kernel": ("positive int", True),
        "activation": ("activation", True),
        "padding": ("padding", False),
        "l2": ("fraction", False),
        "unit_norm": ("bool", False),
    },
    "pool": {"size": ("positive int", True)},
    "dropout": {"rate": ("fraction", True)},
    "batch_norm": {},
    "flatten": {},
}


@dataclass(frozen=True)
class Training:
    """How a seed report trained its model."""

    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    early_stopping: int = 0  # patience in epochs on validation accuracy; 0: off
    momentum: float = 0.0  # SGD only


@dataclass(frozen=True)
class SeedModel:
    """One model of one seed report."""

    id: str
    report: str
    model: str  # the family: dense or cnn
    notes: str
    reported: str
    layers: tuple[dict[str, Any], ...]
    training: Training
    reported_test: float | None = None
    space_params: dict[str, Any] | None = None


def load_seeds(path: Path = SEEDS_FILE) -> list[SeedModel]:
    """Every seed model in the catalog, checked; a bad entry is a one-line SpaceError naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SpaceError(
            f"{path}: malformed seed catalog: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from error
    entries = data.get("seed")
    if not isinstance(entries, list) or not entries:
        raise SpaceError(f"{path}: no [[seed]] entries")
    seeds = []
    for index, entry in enumerate(entries):
        label = entry.get("id", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        try:
            seeds.append(_seed_from_data(entry))
        except SpaceError as error:
            raise SpaceError(f"{path}: seed {label}: {error}") from error
    ids = [s.id for s in seeds]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpaceError(f"{path}: seed id {duplicates[0]!r} appears twice")
    return seeds


def select_seeds(seeds: list[SeedModel], only: list[str] | None) -> list[SeedModel]:
    """The seeds named in ``only`` (all when None), in catalog order; an unknown id is an error."""
    if not only:
        return seeds
    known = {s.id for s in seeds}
    unknown = [i for i in only if i not in known]
    if unknown:
        raise SpaceError(f"unknown seed id {unknown[0]!r}; known: {', '.join(s.id for s in seeds)}")
    return [s for s in seeds if s.id in only]


def warm_start_params(seeds: list[SeedModel], space: Space) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(seed id, the space's searched params) for every seed that fits ``space``; and why the others do not.

    A seed fits when it has space_params of the space's family, every searched key's value lies
    in its range, and every fixed key of the space has the seed's value.
    """
    fitting: list[tuple[str, dict[str, Any]]] = []
    skipped: list[str] = []
    for seed in seeds:
        if seed.model != space.model:
            continue
        if seed.space_params is None:
            skipped.append(f"{seed.id}: no near point in a {space.model} space")
            continue
        complete = {**space.complete({}), **seed.space_params}
        misfit = next((name for name, param in space.params.items() if not param.contains(complete[name])), None)
        if misfit is not None:
            skipped.append(f"{seed.id}: {misfit}={complete[misfit]!r} is outside the space")
            continue
        fitting.append((seed.id, {name: complete[name] for name in space.searched}))
    return fitting, skipped


def build_seed_model(seed: SeedModel) -> Any:
    """The seed's network as a compiled Keras model: rescaling in front, the fixed softmax at the end."""
    import keras

    from spaces.builders import IMAGE_SHAPE, LOSS, NUM_CLASSES

    inputs = keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if seed.model == "cnn":
        x = keras.layers.Reshape((*IMAGE_SHAPE, 1), name="channel")(x)
    else:
        x = keras.layers.Flatten(name="flatten_input")(x)
    for index, layer in enumerate(seed.layers):
        x = _add_layer(keras, x, layer, f"{layer['type']}_{index}")
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output")(x)
    net = keras.Model(inputs, outputs, name=seed.id.replace("-", "_"))
    training = seed.training
    if training.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=training.learning_rate, momentum=training.momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=training.learning_rate)
    net.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"])
    return net


def _add_layer(keras: Any, x: Any, layer: dict[str, Any], name: str) -> Any:
    kind = layer["type"]
    regularizer = keras.regularizers.L2(layer["l2"]) if layer.get("l2") else None
    if kind == "dense":
        return keras.layers.Dense(
            layer["units"], activation=layer["activation"], kernel_regularizer=regularizer, name=name
        )(x)
    if kind == "conv":
        constraint = keras.constraints.UnitNorm(axis=[0, 1, 2]) if layer.get("unit_norm") else None
        return keras.layers.Conv2D(
            layer["filters"],
            layer["kernel"],
            padding=layer.get("padding", "valid"),
            activation=layer["activation"],
            kernel_regularizer=regularizer,
            kernel_constraint=constraint,
            name=name,
        )(x)
    if kind == "pool":
        return keras.layers.MaxPooling2D(layer["size"], name=name)(x)
    if kind == "dropout":
        return keras.layers.Dropout(layer["rate"], name=name)(x)
    if kind == "batch_norm":
        return keras.layers.BatchNormalization(name=name)(x)
    return keras.layers.Flatten(name=name)(x)


def _seed_from_data(entry: Any) -> SeedModel:
    if not isinstance(entry, dict):
        raise SpaceError("must be a table")
    for key in ("id", "report", "model", "layers", "training"):
        if key not in entry:
            raise SpaceError(f"missing key {key!r}")
    known = {"id", "report", "model", "notes", "reported", "reported_test", "layers", "training", "space_params"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise SpaceError(f"unknown key {unknown[0]!r}")
    model = entry["model"]
    if model not in FAMILIES:
        raise SpaceError(f"model must be one of {sorted(FAMILIES)}, but got {model!r}")
    layers = entry["layers"]
    if not isinstance(layers, list):
        raise SpaceError("layers must be a list of tables")
    checked = tuple(_check_layer(model, i, layer) for i, layer in enumerate(layers))
    if model == "cnn" and not any(layer["type"] == "flatten" for layer in checked):
        raise SpaceError("a cnn seed needs a flatten layer before its dense layers")
    space_params = entry.get("space_params")
    if space_params is not None:
        try:
            check_params(model, with_later_keys(model, space_params))  # the seeds predate augmentation and schedules
        except ValueError as error:
            raise SpaceError(f"space_params: {error}") from error
    reported_test = entry.get("reported_test")
    if reported_test is not None and not (isinstance(reported_test, float) and 0.0 <= reported_test <= 1.0):
        raise SpaceError(f"reported_test must be a fraction, but got {reported_test!r}")
    return SeedModel(
        id=_string(entry, "id"),
        report=_string(entry, "report"),
        model=model,
        notes=str(entry.get("notes", "")),
        reported=str(entry.get("reported", "")),
        layers=checked,
        training=_training(entry["training"]),
        reported_test=reported_test,
        space_params=dict(space_params) if space_params is not None else None,
    )


def _string(entry: dict[str, Any], key: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value:
        raise SpaceError(f"{key} must be a non-empty string, but got {value!r}")
    return value


def _check_layer(model: str, index: int, layer: Any) -> dict[str, Any]:
    where = f"layers[{index}]"
    if not isinstance(layer, dict) or layer.get("type") not in _LAYER_KEYS:
        raise SpaceError(f"{where}: type must be one of {list(_LAYER_KEYS)}")
    kind = layer["type"]
    if model == "dense" and kind in ("conv", "pool", "flatten", "batch_norm"):
        raise SpaceError(f"{where}: a dense seed cannot have a {kind} layer")
    spec = _LAYER_KEYS[kind]
    unknown = sorted(set(layer) - set(spec) - {"type"})
    if unknown:
        raise SpaceError(f"{where}: unknown key {unknown[0]!r} for a {kind} layer")
    for key, (check, required) in spec.items():
        if key not in layer:
            if required:
                raise SpaceError(f"{where}: a {kind} layer needs {key!r}")
            continue
        problem = _value_problem(check, layer[key])
        if problem:
            raise SpaceError(f"{where}.{key}: {problem}")
    return dict(layer)


def _value_problem(check: str, value: Any) -> str | None:
    if check == "positive int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else f"must be a positive integer, but got {value!r}"
    if check == "fraction":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1
        return None if ok else f"must lie in [0, 1), but got {value!r}"
    if check == "activation":
        return None if value in ACTIVATIONS else f"must be one of {list(ACTIVATIONS)}, but got {value!r}"
    if check == "padding":
        return None if value in ("same", "valid") else f"must be 'same' or 'valid', but got {value!r}"
    return None if isinstance(value, bool) else f"must be true or false, but got {value!r}"


def _training(data: Any) -> Training:
    if not isinstance(data, dict):
        raise SpaceError("training must be a table")
    unknown = sorted(set(data) - set(Training.__dataclass_fields__))
    if unknown:
        raise SpaceError(f"training: unknown key {unknown[0]!r}")
    try:
        training = Training(**data)
    except TypeError as error:
        raise SpaceError(f"training: {error}") from error
    if training.optimizer not in SEED_OPTIMIZERS:
        raise SpaceError(f"training.optimizer must be one of {list(SEED_OPTIMIZERS)}, but got {training.optimizer!r}")
    for key in ("batch_size", "epochs"):
        if _value_problem("positive int", getattr(training, key)):
            raise SpaceError(f"training.{key}: must be a positive integer, but got {getattr(training, key)!r}")
    if not isinstance(training.learning_rate, float) or training.learning_rate <= 0:
        raise SpaceError(f"training.learning_rate must be a positive number, but got {training.learning_rate!r}")
    if not isinstance(training.early_stopping, int) or training.early_stopping < 0:
        raise SpaceError(
            f"training.early_stopping must be a whole number of epochs (0: off), but got {training.early_stopping!r}"
        )
    return training
