"""bench.anytime's tools: the command line of each, its environment, and launching, collecting and
stopping one run in a fresh SQLite store."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import optuna

from bench.studies import SearchRun, records_of

TOOLS = ("fmnist-search", "default-only", "keras-tuner", "plain-optuna")
# Not run unless named in --tools: fmnist-search pinned to TensorFlow, to weigh a choice of
# backend (search/runtime/choice.py) side by side: run with KERAS_BACKEND unset and the choice in force;
# fmnist-search with plain TPE (--sampler tpe), to weigh the prior-guided sampler against it.
EXTRA_TOOLS = ("fmnist-search-tensorflow", "fmnist-search-tpe")
# The plain loops of bench/plain_optuna.py, and the Optuna study each one writes.
PLAIN_STUDIES = {"plain-optuna": "plain-optuna", "default-only": "default-only"}
# One core each under --parallel: every thread pool a tool's backend sizes from the environment.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
# A tool stops at an epoch end once its time is up; this long after it, whatever runs is killed.
GRACE_S = 240
STUDY = "anytime"


def command(tool: str, family: str, seed: int, args: argparse.Namespace, url: str) -> list[str]:
    """The command line of one run: what a user of each tool would type."""
    budget_s = str(round(args.minutes * 60))
    common = ["--epochs", str(args.epochs), "--seed", str(seed), "--storage", url]
    data = (["--subset", str(args.subset)] if args.subset else []) + (
        ["--data-dir", args.data_dir] if args.data_dir else []
    )
    if tool in PLAIN_STUDIES:
        default_only = ["--default-only"] if tool == "default-only" else []
        return [
            sys.executable,
            "-m",
            "bench.plain_optuna",
            "--space",
            family,
            "--minutes",
            str(args.minutes),
            *default_only,
            *common,
            *data,
        ]
    engine = ["--engine", "keras-tuner"] if tool == "keras-tuner" else []
    sampler = ["--sampler", "tpe"] if tool == "fmnist-search-tpe" else []
    return [
        sys.executable,
        "-m",
        "search",
        "start",
        "--space",
        family,
        "--study",
        STUDY,
        "--timeout",
        budget_s,
        *engine,
        *sampler,
        *common,
        *data,
    ]


def tool_env(tool: str, env: Mapping[str, str], one_core: bool = False) -> dict[str, str]:
    """A run's environment: KerasTuner's, the plain loops' and default-only's users get Keras'
    default backend (TensorFlow); fmnist-search picks its own unless pinned
    (``fmnist-search-tensorflow``); ``one_core``: every backend's thread pools sized to one core."""
    env = {k: v for k, v in env.items() if k != "KERAS_BACKEND"}
    if tool not in ("fmnist-search", "fmnist-search-tpe"):
        env["KERAS_BACKEND"] = "tensorflow"
    return {**env, **ONE_THREAD} if one_core else env


def _epochs_trained(study: optuna.Study) -> int:
    """Every epoch any trial trained, cut-short ones included (KerasTuner's continued trials count their own)."""
    total = 0
    for trial in study.get_trials(deepcopy=False):
        own = trial.user_attrs.get("epochs_trained")
        total += int(own) if own is not None else len(trial.intermediate_values)
    return total


def launch(
    tool: str, family: str, seed: int, args: argparse.Namespace, workdir: Path, core: int | None
) -> subprocess.Popen[bytes]:
    """Start one tool's run in a fresh store, its output to a log in ``workdir``; ``core``: pinned to it."""
    url = f"sqlite:///{workdir / f'{tool}-{seed}.db'}"
    log = (workdir / f"{tool}-{seed}.log").open("w")
    # taskset sets the affinity, then execs the tool: every process it starts (its workers too) inherits it.
    pinned = [] if core is None else ["taskset", "--cpu-list", str(core)]
    try:
        return subprocess.Popen(
            [*pinned, *command(tool, family, seed, args, url)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=tool_env(tool, os.environ, one_core=core is not None),
        )
    finally:
        log.close()  # the child holds its own copy


def collect(tool: str, seed: int, workdir: Path, started: float) -> tuple[SearchRun, int]:
    """A finished run's trials and epochs trained, read back from its store."""
    url = f"sqlite:///{workdir / f'{tool}-{seed}.db'}"
    elapsed = time.time() - started
    try:
        study = optuna.load_study(study_name=PLAIN_STUDIES.get(tool, STUDY), storage=url)
    except KeyError:  # it never got as far as creating its study
        tail = (workdir / f"{tool}-{seed}.log").read_text().strip().splitlines()[-3:]
        raise SystemExit(f"error: {tool} (seed {seed}) created no study; its log ends: {' | '.join(tail)}") from None
    return SearchRun(f"{tool}-{seed}", records_of(study, started), elapsed), _epochs_trained(study)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a run's whole process group (its workers too) if it is still there."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
