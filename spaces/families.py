"""Model families: the keys a space may declare for each family, their legal values and defaults.

A family is what a builder knows how to build. A space file names its family
(``model = "dense"``) and may search or fix any of the family's keys; keys it leaves out
take the defaults below, so the params dict handed to a builder is always complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spaces.augmentation import MAX_CUTOUT, MAX_TRANSLATE
from spaces.label_smoothing import MAX_LABEL_SMOOTHING
from spaces.schedules import SCHEDULES

ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "nadam")
LAYER_SHAPES = ("constant", "funnel")
CNN_HEADS = ("flatten", "gap")


@dataclass(frozen=True)
class Key:
    """One key of a family: its value kind, legal range (numbers) or values (categories), and default."""

    kind: str  # "int", "float", "bool" or "category"
    default: Any
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not legal for this key, or None when it is."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, but got {value!r}"
        if self.kind == "category":
            return (
                None
                if value in self.values and isinstance(value, str)
                else f"must be one of {list(self.values)}, but got {value!r}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, but got {value!r}"
        if self.kind == "int" and not isinstance(value, int):
            return f"must be an integer, but got {value!r}"
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            return f"must lie in [{self.low}, {self.high}], but got {value!r}"
        return None


_TRAINING_KEYS: dict[str, Key] = {
    "activation": Key("category", "relu", values=ACTIVATIONS),
    "dropout": Key("float", 0.2, 0.0, 0.9),
    "batch_norm": Key("bool", False),
    "learning_rate": Key("float", 1e-3, 1e-7, 10.0),
    "optimizer": Key("category", "adam", values=OPTIMIZERS),
    "batch_size": Key("int", 128, 1, 8192),
    "l2": Key("float", 0.0, 0.0, 1.0),
    # Training recipe (spaces/augmentation.py, spaces/schedules.py, spaces/label_smoothing.py):
    # each default is "off", what every model was before these keys existed.
    "translate": Key("int", 0, 0, MAX_TRANSLATE),
    "flip": Key("bool", False),
    "cutout": Key("int", 0, 0, MAX_CUTOUT),
    "lr_schedule": Key("category", "constant", values=SCHEDULES),
    "label_smoothing": Key("float", 0.0, 0.0, MAX_LABEL_SMOOTHING),
}

FAMILIES: dict[str, dict[str, Key]] = {
    # Dense: n_layers hidden layers; the first has `units` units, the next ones the same
    # (constant) or half the previous one, never below 8 (funnel).
    "dense": {
        "n_layers": Key("int", 2, 1, 10),
        "units": Key("int", 256, 1, 8192),
        "layer_shape": Key("category", "funnel", values=LAYER_SHAPES),
        **_TRAINING_KEYS,
    },
    # CNN: conv_blocks blocks of convs_per_block convolutions then a 2x2 max-pool; block b
    # has filters * 2**b filters. Four blocks take 28x28 down to 1x1, so four is the most.
    "cnn": {
        "conv_blocks": Key("int", 2, 1, 4),
        "convs_per_block": Key("int", 1, 1, 4),
        "filters": Key("int", 32, 1, 1024),
        "kernel_size": Key("int", 3, 1, 7),
        "dense_units": Key("int", 128, 1, 8192),
        # How the last feature map reaches the dense head: flattened (a weight per position and
        # channel) or global-average-pooled (one value per channel: far fewer weights, and
        # indifferent to where in the image a feature is).
        "head": Key("category", "flatten", values=CNN_HEADS),
        **_TRAINING_KEYS,
        "dropout": Key("float", 0.25, 0.0, 0.9),
    },
}


def defaults(family: str) -> dict[str, Any]:
    """The complete params dict of a family's default model."""
    return {name: key.default for name, key in FAMILIES[family].items()}


# Keys added after studies were first stored. A trial, config or seed written before them lacks
# them; it means their default, which changes nothing ("off", constant, 0, flatten).
LATER_KEYS = ("translate", "flip", "cutout", "lr_schedule", "label_smoothing", "head")


def with_later_keys(family: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A params dict from before the later keys, completed with their defaults (others left as they are)."""
    keys = FAMILIES[family]
    return {**{name: keys[name].default for name in LATER_KEYS if name in keys}, **params}


def check_params(family: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of a params dict that the family cannot build."""
    keys = FAMILIES[family]
    for name, value in params.items():
        if name not in keys:
            raise ValueError(f"unknown key {name!r} for a {family} model; known keys: {', '.join(keys)}")
        problem = keys[name].check(value)
        if problem:
            raise ValueError(f"{name}: {problem}")
    missing = set(keys) - set(params)
    if missing:
        raise ValueError(f"missing key {sorted(missing)[0]!r} for a {family} model")
