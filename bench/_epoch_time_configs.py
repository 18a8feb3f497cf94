"""bench.epoch_time's configurations: the ways to run the default models that ``--compare`` weighs,
which of them this machine can run, and the environment of a child process running one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.util import find_spec

FULL_TRAIN = 55_000
FAMILIES = ("dense", "cnn")
BASELINE = "default"


@dataclass(frozen=True)
class Config:
    """One way to run the default models; every field left at its default is today's default."""

    backend: str = "tensorflow"
    jit_compile: str = "auto"  # FMNIST_JIT_COMPILE: "auto" is no XLA under TensorFlow on a CPU
    precision: str = "float32"  # a Keras dtype policy
    steps_per_execution: int | None = 1  # None: what search/runtime/choice.py chooses
    batch_size: int | None = None  # None: the model's own (128)
    workers: int = 1  # >1: that many processes at once, each with its share of the cores (devices.py)
    intra_inter: tuple[int, int] | None = None  # TensorFlow's thread pools; None: its own (all cores)
    families: tuple[str, ...] = FAMILIES
    note: str = ""


CONFIGS: dict[str, Config] = {
    BASELINE: Config(note="today's default"),
    "chosen": Config(steps_per_execution=None, jit_compile="", note="search/runtime/choice.py's choice here"),
    "tf-spe8": Config(steps_per_execution=8, families=("dense",), note="8 steps per execution"),
    "tf-spe32": Config(steps_per_execution=32, note="32 steps per execution"),
    "tf-bf16": Config(precision="mixed_bfloat16", note="needs AVX-512 BF16 or AMX"),
    "tf-inter1": Config(intra_inter=(0, 1), note="intra-op all cores, inter-op 1"),
    "tf-spe32-inter1": Config(steps_per_execution=32, intra_inter=(0, 1), note="32 steps per execution, inter-op 1"),
    "tf-2workers": Config(
        workers=2, steps_per_execution=None, note="2 processes of 1 core, as chosen: s per epoch of the pair"
    ),
    "tf-b64": Config(batch_size=64, note="a hyperparameter: accuracy differs"),
    "tf-b256": Config(batch_size=256, note="a hyperparameter: accuracy differs"),
    "tf-xla": Config(jit_compile="true", families=("dense",), note="XLA"),
    "jax": Config(backend="jax", families=("dense",)),
    "jax-spe32": Config(backend="jax", steps_per_execution=32, families=("dense",), note="32 steps per execution"),
    "torch": Config(backend="torch"),
    # The CNN under XLA (TensorFlow's or JAX's) is ~20x slower than the default here: a run of
    # its own, on fewer images (BENCHMARKS.md §3b), keeps the main comparison under half an hour.
    "tf-xla-cnn": Config(jit_compile="true", families=("cnn",), note="XLA"),
    "jax-cnn": Config(backend="jax", families=("cnn",)),
}
DEFAULT_CONFIGS = [name for name in CONFIGS if not name.endswith("-cnn")]


def available_configs(names: list[str] | None = None) -> dict[str, Config]:
    """The configurations this machine can run: a backend must be installed, bfloat16 needs a CPU with it."""
    from search.runtime.choice import read_cpu_flags

    has_bf16 = bool({"avx512_bf16", "amx_bf16"} & read_cpu_flags())
    chosen = {name: CONFIGS[name] for name in (names or DEFAULT_CONFIGS)}
    return {
        name: config
        for name, config in chosen.items()
        if find_spec(config.backend) is not None and (config.precision == "float32" or has_bf16)
    }


def config_env(config: Config, worker: int = 0) -> dict[str, str]:
    """The environment of a child process running ``config`` (worker ``worker`` of ``config.workers``)."""
    from search.runtime.devices import worker_environment

    env = {"KERAS_BACKEND": config.backend, "FMNIST_BENCH_PRECISION": config.precision, "PYTHONUNBUFFERED": "1"}
    if config.jit_compile:
        env["FMNIST_JIT_COMPILE"] = config.jit_compile
    if config.steps_per_execution is not None:
        env["FMNIST_STEPS_PER_EXECUTION"] = str(config.steps_per_execution)
    env.update(worker_environment(worker, config.workers, [], os.cpu_count() or 1))
    if config.intra_inter is not None:
        intra, inter = config.intra_inter
        env.update(TF_NUM_INTEROP_THREADS=str(inter), **({"TF_NUM_INTRAOP_THREADS": str(intra)} if intra else {}))
    return env
