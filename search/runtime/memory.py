"""Free what a finished trial leaves behind in the Keras backend, so a long study's memory stays flat.

``keras.backend.clear_session()`` and ``gc.collect()`` are not enough with TensorFlow 2.21:
every ``tf.custom_gradient`` traced inside a ``tf.function`` (Keras' Dense layer and
``tf.nn.silu`` use them) adds an entry to TensorFlow's global gradient registry that is never
removed, and each entry keeps its traced graph alive: about 9 MiB per small trial, 280 MiB
over 30 (bench/memory.py). Deleting the entries a finished trial added frees them. The
registry is private API, so this does nothing when it cannot be found.
"""

from __future__ import annotations

import gc
from typing import Any

import keras

_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _tf_gradient_registry() -> dict[str, Any] | None:
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry  # noqa: SLF001 - see the module docstring
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


def custom_gradient_names() -> set[str]:
    """The custom gradients registered so far (empty when not on TensorFlow)."""
    registry = _tf_gradient_registry()
    return {name for name in registry if name.startswith(_CUSTOM_GRADIENT_PREFIX)} if registry else set()


def freeze_long_lived_objects() -> None:
    """Move everything alive now (the backend's modules, the loaded data) out of the collector's sight.

    TensorFlow's import leaves ~276,000 objects that every full collection walks: 0.25 s each,
    twice per trial. Frozen, they are skipped and a collection takes well under a millisecond.
    Call once per worker, after importing Keras and loading the data.
    """
    gc.collect()
    gc.freeze()


def release_trial_memory(gradients_before: set[str]) -> None:
    """Clear the Keras session, drop the custom gradients registered since ``gradients_before``, collect once."""
    keras.backend.clear_session(free_memory=False)  # its own gc.collect() would be a second full pass
    registry = _tf_gradient_registry()
    if registry:
        for name in custom_gradient_names() - gradients_before:
            del registry[name]
    gc.collect()
