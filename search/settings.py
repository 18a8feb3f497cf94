"""Every ``FMNIST_*`` environment variable, read in one place: ``settings()``.

The table in docs/configuration.md lists them. Variables a person sets are read when asked
and checked: a bad value is one line naming the variable. The store's own slice is read by the
storage layer (storage/config.py), which cannot import this module; ``Settings.store`` carries it.

``WorkerShare`` is not for people: it is what a parent hands each of its worker processes (its
id, CPU cores and GPU memory share) through the environment, because a backend must read some of
it before it is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from search.errors import FmnistSearchError
from storage.config import StoreSettings

STATUS_SECONDS = 60.0  # a status line a minute in a log
JIT_VALUES: dict[str, bool | str] = {"auto": "auto", "true": True, "1": True, "false": False, "0": False}


class SettingsError(FmnistSearchError, ValueError):
    """An environment variable with a value fmnist-search cannot use."""


@dataclass(frozen=True)
class Settings:
    store: StoreSettings
    data_dir: Path | None  # FMNIST_DATA_DIR: the four Fashion-MNIST IDX files
    status_interval: float  # FMNIST_STATUS_INTERVAL: seconds between status lines in a log
    jit_compile: bool | str | None  # FMNIST_JIT_COMPILE: auto, true or false; None: the runtime's choice
    steps_per_execution: int | None  # FMNIST_STEPS_PER_EXECUTION; None: the runtime's choice

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        data_dir = environ.get("FMNIST_DATA_DIR")
        return cls(
            store=StoreSettings.from_environ(environ),
            data_dir=Path(data_dir) if data_dir else None,
            status_interval=_positive_seconds(environ, "FMNIST_STATUS_INTERVAL", STATUS_SECONDS),
            jit_compile=_jit(environ.get("FMNIST_JIT_COMPILE", "")),
            steps_per_execution=_steps(environ.get("FMNIST_STEPS_PER_EXECUTION", "")),
        )


@dataclass(frozen=True)
class WorkerShare:
    """What the parent set for this worker process: its id and its share of the CPU or GPU."""

    worker_id: int | None  # FMNIST_WORKER_ID
    cpu_threads: int | None  # FMNIST_CPU_THREADS
    cpu_cores: frozenset[int]  # FMNIST_CPU_CORES
    gpu_memory_fraction: float | None  # FMNIST_GPU_MEMORY_FRACTION

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerShare:
        worker, threads = environ.get("FMNIST_WORKER_ID"), environ.get("FMNIST_CPU_THREADS")
        cores, fraction = environ.get("FMNIST_CPU_CORES"), environ.get("FMNIST_GPU_MEMORY_FRACTION")
        return cls(
            worker_id=int(worker) if worker else None,
            cpu_threads=int(threads) if threads else None,
            cpu_cores=frozenset(int(core) for core in cores.split(",")) if cores else frozenset(),
            gpu_memory_fraction=float(fraction) if fraction else None,
        )

    def environ(self) -> dict[str, str]:
        """The variables that hand this share to a worker process."""
        env = {}
        if self.worker_id is not None:
            env["FMNIST_WORKER_ID"] = str(self.worker_id)
        if self.cpu_threads is not None:
            env["FMNIST_CPU_THREADS"] = str(self.cpu_threads)
        if self.cpu_cores:
            env["FMNIST_CPU_CORES"] = ",".join(map(str, sorted(self.cpu_cores)))
        if self.gpu_memory_fraction is not None:
            env["FMNIST_GPU_MEMORY_FRACTION"] = f"{self.gpu_memory_fraction:.3f}"
        return env


def settings() -> Settings:
    """This process's settings, read from its environment now (tests and workers change it)."""
    return Settings.from_environ(os.environ)


def worker_share() -> WorkerShare:
    """This worker process's share, as its parent set it (read when asked: a worker sets it late)."""
    return WorkerShare.from_environ(os.environ)


def _positive_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise SettingsError(f"{name} must be a number of seconds above 0, but got {name}={text!r}")
    return value


def _jit(text: str) -> bool | str | None:
    if not text.strip():
        return None
    if text.strip().lower() not in JIT_VALUES:
        raise SettingsError(f"FMNIST_JIT_COMPILE must be auto, true or false, but got {text!r}")
    return JIT_VALUES[text.strip().lower()]


def _steps(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise SettingsError(f"FMNIST_STEPS_PER_EXECUTION must be an integer of at least 1, but got {text!r}")
    return int(text)
