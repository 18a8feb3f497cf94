"""Process memory (RSS) over 30 small trials of the real dense space, run by ``run_worker``.

A long study runs hundreds of trials in one worker process, so memory must stay flat from
trial to trial. train_trial ends every trial with ``release_trial_memory``
(search/runtime/memory.py: it clears the Keras session, deletes the TF custom-gradient
registry entries the trial added, and runs ``gc.collect()``).

This starts a study on the built-in ``dense`` space (TPE sampler, default pruner) in a
temporary SQLite store with a small subset and one epoch, runs it with ``run_worker``, and
after every trial reads VmRSS from /proc/self/status, the number of objects the Python
collector tracks (``gc.get_objects()``; objects frozen with ``gc.freeze()`` are not
counted) and the number of entries in TensorFlow's global gradient registry (a private
table, ``ops._gradient_registry``; TF 2.21's ``tf.custom_gradient`` adds entries in graph
mode and never removes them, each keeping its traced graph alive). After trials 1, 5, 10,
20 and the last it also times one extra ``gc.collect()``: a full collection's cost grows
with the objects it has to walk, and every trial's clean-up runs at least one.

``--cleanup`` swaps the trial's clean-up for a diagnostic run (the project is not modified;
the bench replaces ``search.engines.optuna.objective.release_trial_memory`` in this process only):
  project   as shipped (see above)
  no-purge  clear_session() then gc.collect(): the clean-up before the registry purge was added
  none      nothing at all: what the clean-up protects against

    python -m bench.memory [--trials 30] [--subset 2000] [--epochs 1] [--cleanup project]
"""

from __future__ import annotations

from search.runtime.quiet import import_keras

keras = import_keras()

import argparse
import gc
import shutil
import tempfile
import time
from pathlib import Path

import optuna

import search.engines.optuna.objective
from bench._common import median, print_table, rss_mib, save_json, tf_gradient_registry, write_default_space
from search.engines.optuna.worker import WorkerJob, run_worker
from search.study.settings import start_or_resume
from storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
CLEANUPS = ("project", "no-purge", "none")


def gradient_registry_size() -> int:
    registry = tf_gradient_registry()
    return -1 if registry is None else len(registry)


def _clear_session_and_collect(gradients_before: set[str]) -> None:
    keras.backend.clear_session()
    gc.collect()


def _no_cleanup(gradients_before: set[str]) -> None:
    pass


def patch_cleanup(mode: str) -> None:
    if mode == "project":
        return
    if not hasattr(search.engines.optuna.objective, "release_trial_memory"):
        raise SystemExit(
            "search.engines.optuna.objective has no release_trial_memory to replace; use --cleanup project"
        )
    replacement = _clear_session_and_collect if mode == "no-purge" else _no_cleanup
    search.engines.optuna.objective.release_trial_memory = replacement  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cleanup", choices=CLEANUPS, default="project")
    parser.add_argument(
        "--space", choices=("dense", "default-dense"), default="dense",
        help="the built-in dense space, or one fixing the default dense model (same shapes every trial)",
    )  # fmt: skip
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()
    patch_cleanup(args.cleanup)

    workdir = Path(tempfile.mkdtemp(prefix="fmnist-bench-memory-"))
    rss: list[float] = []
    objects: list[int] = []
    registry: list[int] = []
    seconds: list[float] = []
    states: list[str] = []
    gc_s: dict[int, float] = {}
    marks = {1, 5, 10, 20, args.trials}
    try:
        url = f"sqlite:///{workdir / 'memory.db'}"
        space = "dense" if args.space == "dense" else str(write_default_space(workdir, "dense"))
        start_or_resume(
            open_storage(url), "memory", space=space, max_epochs=args.epochs,
            seed=args.seed, subset=args.subset, n_trials=args.trials,
        )  # fmt: skip
        before = rss_mib()
        last = time.perf_counter()

        def after_trial(trial: optuna.trial.FrozenTrial) -> None:
            nonlocal last
            seconds.append(time.perf_counter() - last)  # the trial, not the measuring below
            states.append(trial.state.name)
            rss.append(rss_mib())
            objects.append(len(gc.get_objects()))  # tracked by the collector; frozen ones not counted
            registry.append(gradient_registry_size())
            if len(rss) in marks:
                # What one full collection costs now (train_trial runs two per trial).
                started = time.perf_counter()
                gc.collect()
                gc_s[len(rss)] = time.perf_counter() - started
            last = time.perf_counter()

        ran = run_worker(WorkerJob(url, "memory"), after_trial=after_trial)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{ran} trials of space {args.space}, subset {args.subset}, {args.epochs} epoch(s), cleanup={args.cleanup}")
    print("states: " + ", ".join(f"{s} {states.count(s)}" for s in sorted(set(states))))
    print(f"RSS before run_worker (TF imported, nothing loaded): {before:.1f} MiB\n")
    print_table(
        ("after trial", "RSS MiB", "Python objects", "TF gradient registry", "one gc.collect() s"),
        [(n, rss[n - 1], objects[n - 1], registry[n - 1], gc_s[n]) for n in sorted(gc_s)],
    )
    if len(rss) >= 5:
        growth = rss[-1] - rss[4]
        per_trial = growth / (len(rss) - 5) if len(rss) > 5 else 0.0
        print(f"\ngrowth from trial 5 to {len(rss)}: {growth:+.1f} MiB ({per_trial:+.2f} MiB per trial), "
              f"{objects[-1] - objects[4]:+d} Python objects, "
              f"{registry[-1] - registry[4]:+d} gradient registry entries")  # fmt: skip
    print(f"peak RSS {max(rss):.1f} MiB; median seconds per trial {median(seconds[1:] or seconds):.3f}")
    save_json(
        args.json,
        {
            "args": vars(args),
            "rss_mib": rss,
            "objects": objects,
            "registry": registry,
            "trial_s": seconds,
            "gc_collect_s": gc_s,
            "states": states,
            "before_mib": before,
        },
    )


if __name__ == "__main__":
    main()
