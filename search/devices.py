"""Which device the Keras backend of this process trains on, in words for trial records."""

from __future__ import annotations

import os


def describe_device() -> str:
    """``gpu:<visible ids> (<backend>)`` when the backend sees a GPU, else ``cpu (<backend>)``."""
    import keras

    backend = keras.backend.backend()
    has_gpu = False
    if backend == "tensorflow":
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    elif backend == "jax":
        import jax

        has_gpu = jax.default_backend() == "gpu"
    elif backend == "torch":
        import torch

        has_gpu = torch.cuda.is_available()
    if has_gpu:
        return f"gpu:{os.environ.get('CUDA_VISIBLE_DEVICES', '0')} ({backend})"
    return f"cpu ({backend})"
