"""The shapes of a family's layers, as arithmetic on a params dict: no Keras here.

The builders (``spaces/builders.py``) build exactly these layers, and ``spaces/model_size.py``
counts their parameters from the same functions, so a space can be sized before anything is
imported or trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IMAGE_SIDE = 28
NUM_CLASSES = 10
POOL = 2  # each CNN block ends with a 2x2 max-pool, 'valid' padding


def dense_widths(params: Mapping[str, Any]) -> list[int]:
    """Units of each hidden layer: all equal (constant) or halving, never below 8 (funnel)."""
    widths = [params["units"]]
    for _ in range(params["n_layers"] - 1):
        previous = widths[-1]
        widths.append(previous if params["layer_shape"] == "constant" else max(8, previous // 2))
    return widths


def block_filters(params: Mapping[str, Any]) -> list[int]:
    """Filters of each CNN block: the first block has ``filters``, each next one twice as many."""
    return [params["filters"] * 2**block for block in range(params["conv_blocks"])]


def pooled_side(conv_blocks: int) -> int:
    """Side of the feature map after ``conv_blocks`` blocks.

    'same' convolutions keep it; each pool halves it, rounding down.
    """
    side = IMAGE_SIDE
    for _ in range(conv_blocks):
        side //= POOL
    return side


def head_inputs(params: Mapping[str, Any]) -> int:
    """Values the CNN's dense head sees: the flattened last map, or one per channel after global average pooling."""
    channels = block_filters(params)[-1]
    if params.get("head", "flatten") == "gap":
        return channels
    return pooled_side(params["conv_blocks"]) ** 2 * channels
