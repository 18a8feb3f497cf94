"""How many parameters a space's models have, from the builders' own shape arithmetic, and a limit.

``count_params`` adds up the weights of exactly the layers ``spaces/builders.py`` builds (the
shapes come from ``spaces/shapes.py``, which the builders use too); a test checks it against
Keras's own count. ``largest_model`` finds the biggest model a space can produce, so a space
whose models cannot fit in memory is refused before anything trains.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from spaces.families import defaults
from spaces.params import Choice, Fixed, FloatParam, IntParam, Param, SpaceError
from spaces.shapes import IMAGE_SIDE, NUM_CLASSES, block_filters, dense_widths, head_inputs
from spaces.space import Space

# 100 M float32 weights are 400 MB; with gradients and two Adam moments, 1.6 GB a worker before
# any activation: far beyond what Fashion-MNIST needs (the seeds and the bests are below 1 M).
DEFAULT_MAX_PARAMS = 100_000_000
# The keys that change a model's size; the others (learning rate, dropout, augmentation, ...) do not.
SIZE_KEYS = {
    "dense": ("n_layers", "units", "layer_shape", "batch_norm"),
    "cnn": ("conv_blocks", "convs_per_block", "filters", "kernel_size", "dense_units", "head", "batch_norm"),
}
# An int range with more values than this is tried at its ends only: the count grows with
# units, filters and dense units whatever the other keys are.
_ENUMERATE_UP_TO = 64


def count_params(model: str, params: Mapping[str, Any]) -> int:
    """Weights of the model ``build_model(model, params)`` builds, trainable or not (as Keras counts them)."""
    batch_norm = bool(params["batch_norm"])

    def linear(fan_in: int, units: int) -> int:
        # With batch norm a layer has no bias, and its BatchNormalization holds 4 weights per unit
        # (gamma, beta, moving mean and variance).
        return fan_in * units + (4 * units if batch_norm else units)

    total = 0
    if model == "dense":
        previous = IMAGE_SIDE * IMAGE_SIDE
        for width in dense_widths(params):
            total += linear(previous, width)
            previous = width
    else:
        channels = 1
        kernel = params["kernel_size"]
        for filters in block_filters(params):
            for _ in range(params["convs_per_block"]):
                total += linear(kernel * kernel * channels, filters)
                channels = filters
        total += linear(head_inputs(params), params["dense_units"])
        previous = params["dense_units"]
    return total + previous * NUM_CLASSES + NUM_CLASSES


def largest_model(space: Space) -> tuple[int, dict[str, Any]]:
    """(parameter count, size params) of the biggest model the space can build.

    Every combination of the size keys' candidate values is counted: more conv blocks can mean
    fewer parameters (each block halves the map the head sees), so no key is simply maxed out.
    """
    keys = SIZE_KEYS[space.model]
    base = defaults(space.model)
    options = [_candidates(space.params[key]) if key in space.params else [base[key]] for key in keys]
    best: tuple[int, dict[str, Any]] = (-1, {})
    for values in itertools.product(*options):
        chosen = dict(zip(keys, values, strict=True))
        count = count_params(space.model, {**base, **chosen})
        if count > best[0]:
            best = (count, chosen)
    return best


def check_model_size(space: Space, limit: int = DEFAULT_MAX_PARAMS) -> None:
    """Refuse, in one line, a space whose largest model has more than ``limit`` parameters."""
    count, chosen = largest_model(space)
    if count > limit:
        where = ", ".join(f"{key}={value}" for key, value in chosen.items())
        raise SpaceError(
            f"space {space.name!r}: its largest model ({where}) has {count:,} parameters, more than the limit "
            f"of {limit:,}; narrow the space or raise --max-params"
        )


def _candidates(param: Param) -> list[Any]:
    if isinstance(param, Fixed):
        return [param.value]
    if isinstance(param, Choice):
        return list(param.choices)
    if isinstance(param, IntParam):
        top = param.low + (param.high - param.low) // param.step * param.step
        if (top - param.low) // param.step < _ENUMERATE_UP_TO:
            return list(range(param.low, top + 1, param.step))
        return [param.low, top]
    assert not isinstance(param, FloatParam), "size keys are integers, booleans or categories"  # spaces/space.py checks
    return [param]
