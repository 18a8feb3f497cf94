"""bench.epoch_time's child side: one configuration's training, in this process's runtime, each
epoch and validation pass timed; ``--child`` prints its figures after ``RESULT_PREFIX``."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

RESULT_PREFIX = "EPOCH-TIME-RESULT "


def epoch_timer(keras: Any) -> Any:
    class EpochTimer(keras.callbacks.Callback):
        """Wall time of each epoch (validation included) and of each epoch's validation pass."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch_s: list[float] = []
            self.val_s: list[float] = []
            self._epoch_start = self._val_start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch_start = time.perf_counter()

        def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
            # JAX dispatches asynchronously: without waiting for the last step's weights here,
            # the training still running would be timed as validation (TensorFlow waits anyway).
            keras.ops.convert_to_numpy(self.model.trainable_variables[-1])
            self._val_start = time.perf_counter()

        def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
            self.val_s.append(time.perf_counter() - self._val_start)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_s.append(time.perf_counter() - self._epoch_start)

    return EpochTimer()


def _wait_for_go(barrier: str | None, family: str, worker: int) -> None:
    """Workers of one configuration start each family's training together, so that they really share the CPU."""
    if not barrier:
        return
    Path(barrier, f"ready-{family}-{worker}").touch()
    while not Path(barrier, f"go-{family}").exists():
        time.sleep(0.05)


def train_families(
    families: list[str],
    epochs: int,
    seed: int,
    subset: int | None,
    batch_size: int | None,
    data_dir: str | None,
    barrier: str | None = None,
) -> dict[str, Any]:
    """Train each family's default model in this process's runtime; its epoch and validation seconds, accuracy."""
    from search.runtime.quiet import import_keras

    keras = import_keras()
    from search.data.loader import load_train_val
    from search.runtime.choice import compile_options, current_runtime
    from search.runtime.devices import apply_backend_limits
    from spaces.builders import build_model
    from spaces.families import defaults

    apply_backend_limits()
    data = load_train_val(data_dir, subset)
    results: dict[str, Any] = {"backend": keras.backend.backend(), "n_train": len(data.x_train)}
    results["runtime"] = {family: asdict(current_runtime(family)) for family in families}
    worker = int(os.environ.get("FMNIST_WORKER_ID", "0"))
    for family in families:
        params = defaults(family) | ({"batch_size": batch_size} if batch_size else {})
        keras.utils.set_random_seed(seed)
        # Per model: clear_session() below resets the dtype policy too.
        keras.mixed_precision.set_global_policy(os.environ.get("FMNIST_BENCH_PRECISION", "float32"))
        model = build_model(family, params, compile_options=compile_options(family))
        results.setdefault("precision", {})[family] = model.dtype_policy.name
        timer = epoch_timer(keras)
        _wait_for_go(barrier, family, worker)
        load_before = os.getloadavg()[0]
        history = model.fit(
            data.x_train, data.y_train, batch_size=params["batch_size"], epochs=epochs,
            validation_data=(data.x_val, data.y_val), callbacks=[timer], verbose=0,
        )  # fmt: skip
        results[family] = {
            "epoch_s": timer.epoch_s, "val_s": timer.val_s, "val_accuracy": history.history["val_accuracy"],
            "params": model.count_params(), "batch_size": params["batch_size"],
            "loadavg_1min": [load_before, os.getloadavg()[0]],
        }  # fmt: skip
        del model
        keras.backend.clear_session()
    return results
