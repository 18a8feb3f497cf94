"""fmnist-search: orchestration of hyperparameter searches over Keras models on Fashion-MNIST.

The Python API (search/api.py) is importable from here: ``search.run_study``,
``search.export_best``, ``search.evaluate`` and ``search.load_space``. They are loaded on first
use, so ``import search`` stays instant: worker processes import this package too, and Optuna
or TensorFlow are imported only by what needs them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing: this runs before `python -m search` can catch Ctrl-C
__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "export_best", "load_space", "run_study"]

if TYPE_CHECKING:
    from typing import Any

    from search.api import evaluate, export_best, load_space, run_study


def __getattr__(name: str) -> Any:
    # Bound on first use; the final evaluation's module is search.results.evaluation, so that no
    # submodule import rebinds search.evaluate.
    if name in ("evaluate", "export_best", "load_space", "run_study"):
        from search import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'search' has no attribute {name!r}")
