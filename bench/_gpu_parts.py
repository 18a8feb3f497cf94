"""The GPU campaign's parts: the environment, (a) epoch time and scaling, (b) a timed search.

Each measurement runs in its own processes, configured as a worker is (search.runtime.devices),
under the nvidia-smi sampler of bench/_gpu_smi.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench._gpu_smi import gpu_monitor

SCALING_GOAL = 2.5  # 4 workers' epochs/s over 1 worker's
SEARCH_GOAL = 0.93  # best validation accuracy
SEARCH_GOAL_S = 600


@dataclass(frozen=True)
class Sizes:
    """How big each part is: the full campaign for a GPU, or a dry run that only checks it works."""

    epoch_subset: int | None  # None: all 55,000 train images
    epoch_epochs: int
    scaling_workers: tuple[int, ...]
    scaling_subset: int | None
    scaling_epochs: int
    search_workers: int
    search_seconds: int  # the run's --timeout
    search_args: tuple[str, ...]  # extra `start` options


FULL = Sizes(None, 4, (1, 2, 4, 8), None, 5, 4, 450, ())
DRY = Sizes(600, 2, (1, 2), 300, 1, 2, 100, ("--subset", "200", "--epochs", "1"))


# ---------------------------------------------------------------- the environment


def _probe_backend(env: dict[str, str]) -> dict[str, Any]:
    """In a child configured as worker 0: the backend, what it trains on, its versions (the parent
    stays off the GPU)."""
    os.environ.update(env)
    from search.runtime.quiet import import_keras

    keras = import_keras()
    from search.runtime.devices import describe_device

    info: dict[str, Any] = {"backend": keras.backend.backend(), "device": describe_device(), "keras": keras.__version__}
    if info["backend"] == "jax":
        import jax

        info |= {"jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
    return info


def _in_child(function: Any, *args: Any) -> Any:
    """Run ``function(*args)`` in a fresh spawned process (its own backend, its own GPU memory) and
    return its result."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def environment(gpus: list[str]) -> dict[str, Any]:
    from search.runtime.devices import worker_environment

    listing = (
        subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
        if shutil.which("nvidia-smi")
        else ""
    )
    versions = {}
    for name in ("optuna", "numpy", "jaxlib", "torch", "tensorflow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "gpus": listing.strip().splitlines() or "none",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        **_in_child(_probe_backend, worker_environment(0, 1, gpus, os.cpu_count() or 1)),
    }


# ---------------------------------------------------------------- (a) epoch time and scaling


def _epoch_seconds(env: dict[str, str], family: str, subset: int | None, epochs: int) -> dict[str, Any]:
    """In a child configured as worker 0: train the family's default model, timing each epoch (validation included)."""
    os.environ.update(env)
    from search.runtime.quiet import import_keras

    keras = import_keras()
    from bench._epoch_time_child import epoch_timer
    from search.data.loader import load_train_val
    from search.runtime.choice import compile_options
    from search.runtime.devices import apply_backend_limits
    from spaces.builders import build_model
    from spaces.families import defaults

    apply_backend_limits()
    data = load_train_val(None, subset)
    params = defaults(family)
    keras.utils.set_random_seed(0)
    model = build_model(family, params, compile_options=compile_options(family))
    timer = epoch_timer(keras)
    history = model.fit(data.x_train, data.y_train, batch_size=params["batch_size"], epochs=epochs,
                        validation_data=(data.x_val, data.y_val), callbacks=[timer], verbose=0)  # fmt: skip
    steady = sorted(timer.epoch_s[1:]) or timer.epoch_s
    return {
        "train_images": len(data.x_train), "batch_size": params["batch_size"], "params": model.count_params(),
        "epoch_s": [round(s, 3) for s in timer.epoch_s], "val_s": [round(s, 3) for s in timer.val_s],
        "steady_epoch_s": round(steady[len(steady) // 2], 3), "val_accuracy": history.history["val_accuracy"],
    }  # fmt: skip


def part_epoch_time(sizes: Sizes, gpus: list[str]) -> dict[str, Any]:
    from search.runtime.devices import worker_environment

    env = worker_environment(0, 1, gpus, os.cpu_count() or 1)
    result: dict[str, Any] = {}
    for family in ("dense", "cnn"):
        figures: dict[str, Any] = {}
        with gpu_monitor(figures):
            figures |= _in_child(_epoch_seconds, env, family, sizes.epoch_subset, sizes.epoch_epochs)
        result[family] = figures
        print(f"  {family}: {figures['epoch_s']} s per epoch", flush=True)
    return result


def part_scaling(sizes: Sizes, gpus: list[str]) -> dict[str, Any]:
    from bench.parallel import epochs_per_second

    rates: dict[str, Any] = {}
    for n in sizes.scaling_workers:
        figures: dict[str, Any] = {}
        with gpu_monitor(figures):
            figures["epochs_per_s"] = round(
                epochs_per_second(n, sizes.scaling_subset or 55_000, sizes.scaling_epochs, 1, gpus, "cnn"), 3
            )
        rates[str(n)] = figures
        print(f"  {n} worker(s): {figures['epochs_per_s']} epochs/s", flush=True)
    one = rates[str(sizes.scaling_workers[0])]["epochs_per_s"]
    return {
        "model": "default cnn", "epochs_per_trial": sizes.scaling_epochs,
        "train_images": sizes.scaling_subset or 55_000,
        "workers": rates, "speedup": {n: round(r["epochs_per_s"] / one, 2) for n, r in rates.items()},
    }  # fmt: skip


# ---------------------------------------------------------------- (b) a timed search


def best_by_time(trials: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(seconds, value) of complete trials, in any order -> the points where the best so far went up."""
    curve: list[tuple[float, float]] = []
    for seconds, value in sorted(trials):
        if not curve or value > curve[-1][1]:
            curve.append((round(seconds, 1), round(value, 4)))
    return curve


def part_search(sizes: Sizes, gpus: list[str]) -> dict[str, Any]:
    import optuna

    from storage import open_storage

    with tempfile.TemporaryDirectory(prefix="fmnist-gpu-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'gpu.db'}"
        command = [sys.executable, "-m", "search", "start", "--space", "cnn", "--study", "gpu-cnn", "--storage", url,
                   "--workers", str(sizes.search_workers), "--timeout", str(sizes.search_seconds),
                   *sizes.search_args]  # fmt: skip
        if gpus:
            command += ["--gpus", ",".join(gpus)]
        env = os.environ | {
            "FMNIST_SEARCH_HOME": tmp,
            "FMNIST_ARTIFACTS": str(Path(tmp) / "artifacts"),
            "COLUMNS": "100",
        }
        figures: dict[str, Any] = {
            "command": " ".join(["fmnist-search", *command[3:]]).replace(url, "<temporary sqlite>")
        }
        started = time.time()
        with gpu_monitor(figures):
            run = subprocess.run(command, env=env, capture_output=True, text=True)
        figures["run_s"] = round(time.time() - started, 1)
        if run.returncode != 0:
            raise RuntimeError(f"the search exited {run.returncode}: {(run.stderr or run.stdout).strip()[-2000:]}")
        study = optuna.load_study(study_name="gpu-cnn", storage=open_storage(url))
        State = optuna.trial.TrialState
        done = [t for t in study.trials if t.state in (State.COMPLETE, State.PRUNED)]
        complete = [(t.datetime_complete.timestamp() - started, t.value) for t in done if t.state == State.COMPLETE]
        curve = best_by_time(complete)
        reached = next((s for s, v in curve if v >= SEARCH_GOAL), None)
        figures |= {
            "trials": len(done), "complete": len(complete), "pruned": len(done) - len(complete),
            "epochs": sum(len(t.intermediate_values) for t in done),
            "devices": sorted({str(t.user_attrs.get("device")) for t in done}),
            "best_val_accuracy": curve[-1][1] if curve else None, "best_by_time": curve,
            "seconds_to_goal": reached,
        }  # fmt: skip
        print(f"  best {figures['best_val_accuracy']} after {figures['trials']} trials", flush=True)
        return figures
