"""Keep TensorFlow's C++ and Python log noise out of the user's terminal.

Must run before TensorFlow or Keras is imported: the C++ log level is read once, at import.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType


def configure_logging(verbose: bool = False) -> None:
    """Silence TensorFlow/absl/Keras chatter unless ``verbose``.

    KERAS_BACKEND is left as the user set it (or not): the runner reads it to tell a backend the
    user chose from none (search/runtime/choice.py); ``import_keras`` fills in the default.
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++: errors and below stay quiet too
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # keep oneDNN, just without its banner (level 3)
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "keras", "h5py", "jax"):  # jax: its "falling back to cpu" warning
        logging.getLogger(name).setLevel(logging.ERROR)
    import optuna

    # Optuna configures its own logger on first use; set_verbosity survives that. Its warnings
    # carry whole tracebacks: the worker reports a failed trial in one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|optuna|absl)(\..*)?")
    warnings.filterwarnings("ignore", category=FutureWarning)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block.

    TensorFlow 2.21 writes its import-time banners (oneDNN, CUDA stubs, absl) from C++ straight
    to fd 2, before any log level applies; only closing the descriptor hides them.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras(verbose: bool = False) -> ModuleType:
    """Import Keras (and its backend) once, quietly unless ``verbose``."""
    configure_logging(verbose)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if verbose or "keras" in sys.modules:
        import keras

        return keras
    with native_stderr_silenced():
        import keras

        keras.backend.backend()  # the backend package itself is imported lazily; do it in here
        # Keras imports TensorFlow wherever it is installed, whatever the backend
        # (keras.utils.set_random_seed seeds it too): under JAX or torch, do that in here as well.
        if keras.backend.backend() == "tensorflow" or importlib.util.find_spec("tensorflow") is not None:
            import tensorflow  # noqa: F401
    return keras
