"""How Keras runs a model on this machine: XLA or not, steps per execution, and the backend.

The fastest way to train the project's models depends on the machine, not on the model's
hyperparameters, so it is chosen here at run time from what the process runs on (a GPU or the
CPU, and the backend) and never stored with a trial: the same params train the same weights
everywhere, only faster or slower. ``choose_runtime`` is pure and holds the rules;
``compile_options`` is what the callers of ``spaces.builders.build_model`` pass to it. The rules,
each chosen by ``python -m bench.epoch_time --compare`` (docs/benchmarks.md):

- **TensorFlow on a CPU: 32 steps per execution, no XLA.** Keras runs 32 batches per call of
  its compiled train function, which saves the per-batch dispatch; the weights are the same, and
  callbacks that act per batch see every 32nd one. XLA is slower there than oneDNN's kernels.
- **float32 everywhere**: mixed bfloat16 was no faster on the CPUs measured.
- **A GPU, and JAX or torch on a CPU: Keras' own defaults** ("auto": XLA on a GPU under
  TensorFlow, always under JAX; one step per execution).
- **The backend: TensorFlow wherever it is installed, else JAX, else torch** (``choose_backend``);
  KERAS_BACKEND, when set, always wins. JAX's augmentation layers and convolutions are slow on a
  CPU, so it is no default for a search whose space holds augmentation. A backend is fixed per
  process when Keras is imported, so the runner hands the choice to each worker process in its
  environment.

``FMNIST_JIT_COMPILE`` (auto, true, false) and ``FMNIST_STEPS_PER_EXECUTION`` (an integer >= 1)
override the choice, e.g. to compare.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Collection
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from search.settings import Settings, settings

CPU_STEPS_PER_EXECUTION = 32


@dataclass(frozen=True)
class RuntimeChoice:
    """How to run a model: ``jit_compile`` as Keras' compile takes it, steps per execution, and why."""

    jit_compile: bool | str
    steps_per_execution: int
    reason: str


def choose_runtime(family: str, backend: str, has_gpu: bool) -> RuntimeChoice:
    """The fastest runtime that keeps accuracy for a ``family`` model under ``backend`` (rules: the docstring)."""
    if has_gpu:
        return RuntimeChoice("auto", 1, "GPU: Keras' defaults (nothing else measured there)")
    if backend == "tensorflow":
        return RuntimeChoice(
            False, CPU_STEPS_PER_EXECUTION, f"CPU, TensorFlow, {family}: {CPU_STEPS_PER_EXECUTION} steps per execution"
        )
    return RuntimeChoice("auto", 1, f"CPU, {backend}, {family}: Keras' defaults (nothing measured faster)")


BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class BackendChoice:
    """The Keras backend a study's workers run, and why."""

    name: str
    reason: str


def choose_backend(installed: Collection[str], requested: str | None = None) -> BackendChoice:
    """The backend for a search's workers (rules: module docstring); ``requested`` is KERAS_BACKEND, which wins."""
    if requested:
        return BackendChoice(requested, "KERAS_BACKEND")
    for name in BACKENDS:
        if name in installed:
            return BackendChoice(name, "the default" if name == "tensorflow" else "the only backend installed")
    return BackendChoice("tensorflow", "the default")


def installed_backends() -> frozenset[str]:
    """The Keras backends this Python can import (found, not imported: importing one costs seconds)."""
    return frozenset(name for name in BACKENDS if find_spec(name) is not None)


def process_backend() -> str:
    """The backend Keras has in this process, or will have when imported here."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return str(keras.backend.backend())
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def with_overrides(choice: RuntimeChoice, settings: Settings) -> RuntimeChoice:
    """``choice`` with ``FMNIST_JIT_COMPILE`` and ``FMNIST_STEPS_PER_EXECUTION`` applied (see search/settings.py)."""
    jit = choice.jit_compile if settings.jit_compile is None else settings.jit_compile
    steps = choice.steps_per_execution if settings.steps_per_execution is None else settings.steps_per_execution
    if (jit, steps) == (choice.jit_compile, choice.steps_per_execution):
        return choice
    return RuntimeChoice(jit, steps, f"{choice.reason}; overridden by FMNIST_JIT_COMPILE/FMNIST_STEPS_PER_EXECUTION")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor in a /proc/cpuinfo text (empty where there is none, e.g. not Linux)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 says flags, ARM says Features
            return frozenset(value.split())
    return frozenset()


def read_cpu_flags() -> frozenset[str]:
    """This machine's CPU feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return frozenset()


@functools.cache
def current_runtime(family: str) -> RuntimeChoice:
    """The choice for a ``family`` model in this process, overrides applied (Keras fixes the backend on import)."""
    import keras

    from search.runtime.devices import describe_device

    return with_overrides(
        choose_runtime(family, keras.backend.backend(), describe_device().startswith("gpu")), settings()
    )


def compile_options(family: str) -> dict[str, Any]:
    """The keyword arguments of ``Model.compile`` that carry this process's runtime choice for a ``family`` model."""
    choice = current_runtime(family)
    return {"jit_compile": choice.jit_compile, "steps_per_execution": choice.steps_per_execution}
