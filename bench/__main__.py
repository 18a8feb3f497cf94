"""Every comparison side by side in one run: ``python -m bench [--quick|--full] [--out FILE]``.

1. data: warm load of 70,000 images, ours vs ``keras.datasets.fashion_mnist.load_data()`` (bench/data_load.py);
2. overhead: one trial through run_worker vs plain ``model.fit`` (bench/overhead.py);
3. pruning: the same number of trials with Hyperband and with no pruner, same TPE seed;
4. KerasTuner: its Hyperband (one iteration) through ``--engine keras-tuner``, then fmnist-search
   for the same wall-clock time.

All searches use the same space, stratified subset of the fixed train split, validation set,
max epochs and seed, in fresh SQLite stores in a temporary folder. Writes the figures as JSON
(default bench/results.json) and regenerates the marked section of BENCHMARKS.md.
``--quick`` is sized for a 2-core CPU (under 20 minutes); ``--full`` for a GPU machine.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Keras reads KERAS_HOME once, at import: point it at a folder of ours before anything imports
# Keras, so that load_data() finds our copies of the files and never downloads (bench/data_load.py).
_WORKDIR = Path(tempfile.mkdtemp(prefix="fmnist-bench-"))
os.environ["KERAS_HOME"] = str(_WORKDIR / "keras-home")
os.environ.setdefault("FMNIST_ARTIFACTS", str(_WORKDIR / "artifacts"))
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)

from search.runtime.quiet import import_keras

import_keras()

import argparse
import datetime
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import optuna
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.data_load import race_keras
from bench.figures import kerastuner_figures, pruning_figures
from bench.overhead import measure_overhead
from bench.report import update_benchmarks_md, write_results
from bench.studies import SearchSpec, run_fmnist_search, run_keras_tuner_search
from search.ui.console import console

optuna.logging.set_verbosity(optuna.logging.ERROR)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """How big each comparison is."""

    name: str
    space: str
    subset: int  # stratified train images for the searches (validation stays the fixed 5,000)
    max_epochs: int
    pruning_trials: int
    overhead_subset: int
    overhead_epochs: int
    overhead_repeats: int
    data_repeats: int
    seed: int = 0


PROFILES = {
    # 2-core CPU, under 20 minutes: a small subset, max 9 epochs (Hyperband rungs 1, 3, 9).
    "quick": Profile("quick", "dense", 3000, 9, 18, 20000, 3, 3, 5),
    # A GPU machine: a bigger subset, the default 15 epochs, more trials.
    "full": Profile("full", "dense", 20000, 15, 60, 55000, 5, 5, 7),
    # Checks that every step runs (a minute or two); its figures mean nothing.
    "smoke": Profile("smoke", "dense", 500, 2, 3, 1000, 1, 1, 1),
}


def _machine() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    import keras
    import keras_tuner
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return (
        f"{os.cpu_count()}-core {model}, {'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}; "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"KerasTuner {keras_tuner.__version__}, Optuna {optuna.__version__}"
    )


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "bench", "search", "spaces", "storage"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        return out.stdout.strip() + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _background_searches() -> int:
    """Other fmnist-search processes on this machine (they share the CPU with the benchmark)."""
    mine = os.getpid()
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "fmnist-search" in command and "bench" not in command:
            count += 1
    return count


def run(profile: Profile, progress: Progress) -> dict[str, Any]:
    spec = SearchSpec(profile.space, profile.subset, profile.max_epochs, profile.seed)
    results: dict[str, Any] = {}
    steps = progress.add_task("comparisons", total=6)

    def step(description: str) -> Any:
        progress.update(steps, description=description)
        return progress.add_task(f"  {description}", total=None)

    task = step("data: ours vs keras load_data")
    race = race_keras(_WORKDIR / "data", profile.data_repeats)
    results |= {"data_warm_load_s": race.warm_load_s, "data_load_ratio": race.ratio,
                "data_keras_load_s": sorted(race.keras_s)[len(race.keras_s) // 2]}  # fmt: skip
    progress.update(task, completed=1, total=1)
    progress.advance(steps)

    task = step(f"overhead: {profile.overhead_repeats} rounds of plain fit vs run_worker")
    progress.update(task, total=profile.overhead_repeats)
    overhead_dir = _WORKDIR / "overhead"
    overhead_dir.mkdir()
    overhead = measure_overhead(
        overhead_dir, profile.overhead_subset, profile.overhead_epochs, profile.overhead_repeats, profile.seed,
        on_round=lambda n: progress.update(task, completed=n),
    )  # fmt: skip
    results |= {
        "overhead_ratio": overhead.ratio,
        "overhead_ratio_fit_normalised": overhead.fit_normalised_ratio,
        "overhead_fixed_extra_s": overhead.fixed_extra_s,
        "overhead_plain_s": sorted(r.total_s for r in overhead.plain)[len(overhead.plain) // 2],
    }
    progress.advance(steps)

    searches = {}
    for pruner in ("hyperband", "none"):
        task = step(f"pruning: {profile.pruning_trials} trials, pruner {pruner}")
        progress.update(task, total=profile.pruning_trials)
        searches[pruner] = run_fmnist_search(
            _WORKDIR, f"pruning-{pruner}", spec, pruner=pruner, n_trials=profile.pruning_trials,
            after_trial=lambda n, task=task: progress.update(task, completed=n),
        )  # fmt: skip
        progress.advance(steps)
    results |= pruning_figures(searches["hyperband"], searches["none"])

    task = step("KerasTuner: one Hyperband iteration (--engine keras-tuner)")
    keras_tuner = run_keras_tuner_search(
        _WORKDIR, "keras-tuner", spec, after_trial=lambda n: progress.update(task, completed=n)
    )
    progress.advance(steps)
    task = step(f"fmnist-search for KerasTuner's {keras_tuner.elapsed_s:.0f} s")
    progress.update(task, total=keras_tuner.elapsed_s)
    started = time.time()
    ours = run_fmnist_search(
        _WORKDIR, "fmnist-search-timed", spec, pruner="hyperband", budget_s=keras_tuner.elapsed_s,
        after_trial=lambda _: progress.update(task, completed=min(time.time() - started, keras_tuner.elapsed_s)),
    )  # fmt: skip
    progress.advance(steps)
    results |= kerastuner_figures(keras_tuner, ours)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="2-core CPU, under 20 minutes (the default)")
    size.add_argument("--full", action="store_true", help="a GPU machine: bigger subset, more trials")
    size.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"), help="JSON file for the figures")
    parser.add_argument("--no-markdown", action="store_true", help="do not regenerate BENCHMARKS.md")
    args = parser.parse_args()
    profile = PROFILES["full" if args.full else "smoke" if args.smoke else "quick"]

    command = "python -m bench " + " ".join(sys.argv[1:])
    background = _background_searches()
    load_before = os.getloadavg()[0]
    started = time.time()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total}"),
                      TimeElapsedColumn(), console=console) as progress:  # fmt: skip
            figures = run(profile, progress)
    finally:
        shutil.rmtree(_WORKDIR, ignore_errors=True)
    background = max(background, _background_searches())
    results: dict[str, Any] = {
        "command": command.strip(),
        "profile": profile.name,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": _commit(),
        "run_seconds": time.time() - started,
        "machine": _machine(),
        "load": f"1-min load average {load_before:.1f} → {os.getloadavg()[0]:.1f}; "
        + (f"{background} other fmnist-search process(es) running" if background else "no other fmnist-search running"),
        "setup": f"space {profile.space!r}, {profile.subset:,}-image stratified subset of the 55,000-image train "
        f"split, the 5,000-image validation split, max {profile.max_epochs} epochs, seed {profile.seed}, TPE sampler "
        f"(fmnist-search), Hyperband factor 3 (both); overhead: default dense model, {profile.overhead_subset:,} "
        f"images, {profile.overhead_epochs} epochs, {profile.overhead_repeats} rounds",
        **figures,
    }
    write_results(Path(args.out), results)
    if not args.no_markdown:
        update_benchmarks_md(ROOT / "BENCHMARKS.md", results)
    for key in ("overhead_ratio", "pruning_epoch_ratio", "pruning_best_gap", "kerastuner_time_ratio",
                "kerastuner_best_val_accuracy", "fmnist_search_best_val_accuracy", "data_warm_load_s",
                "data_load_ratio"):  # fmt: skip
        console.print(f"{key}: {results.get(key)}", highlight=False)
    console.print(f"wrote {args.out}" + ("" if args.no_markdown else " and BENCHMARKS.md"), highlight=False)


if __name__ == "__main__":
    main()
