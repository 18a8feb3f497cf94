"""Label smoothing: the loss a params dict trains with, and the targets that loss needs.

With ``label_smoothing`` = e > 0 the target of each image is 1 - e + e/10 for its class and e/10
for every other one (Szegedy et al.), which keeps a network from driving its softmax to
certainty on the training images. Keras's sparse cross-entropy has no smoothing, so a smoothed
model trains on one-hot targets with Keras's ``CategoricalCrossentropy(label_smoothing=e)``: a
built-in loss, so a saved model loads without this package. At 0 (the default, and what a
params dict from before this key existed means) the loss and the integer targets are the ones
every model had before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SPARSE_LOSS = "sparse_categorical_crossentropy"
MAX_LABEL_SMOOTHING = 0.5  # beyond it the true class is barely preferred


def smoothing(params: Mapping[str, Any]) -> float:
    return float(params.get("label_smoothing", 0.0))


def loss(params: Mapping[str, Any]) -> Any:
    """The loss to compile with."""
    if not smoothing(params):
        return SPARSE_LOSS
    import keras

    return keras.losses.CategoricalCrossentropy(label_smoothing=smoothing(params))


def targets(params: Mapping[str, Any], labels: Any, classes: int = 10) -> Any:
    """The labels as the loss wants them: unchanged integers, or one-hot float32 rows when smoothing."""
    if not smoothing(params):
        return labels
    import numpy as np

    return np.eye(classes, dtype="float32")[np.asarray(labels, dtype="int64")]
