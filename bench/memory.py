"""Process memory (RSS) over 30 small trials of the real dense space, run by ``run_worker``.

A long study runs hundreds of trials in one worker process, so memory must stay flat from
trial to trial; train_trial relies on ``keras.backend.clear_session()`` and ``gc.collect()``
for that. This starts a study on the built-in ``dense`` space (TPE sampler, default pruner)
in a temporary SQLite store with a small subset and one epoch, runs it with ``run_worker``
and reads VmRSS from /proc/self/status after every trial.

``--cleanup`` swaps train_trial's clean-up for a diagnostic run (the project is not
modified; the bench patches names in this process only):
  project             as shipped: clear_session() (which itself runs gc.collect()), then gc.collect()
  clear-session-only  train_trial's own extra gc.collect() made a no-op
  none                clear_session() made a no-op as well: what the clean-up protects against

    python -m bench.memory [--trials 30] [--subset 2000] [--epochs 1] [--cleanup project]
"""

from __future__ import annotations

from search.quiet import import_keras

keras = import_keras()

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import optuna  # noqa: E402

import search.objective  # noqa: E402
from bench._common import median, print_table, rss_mib, save_json  # noqa: E402
from search.study import start_or_resume  # noqa: E402
from search.worker import WorkerJob, run_worker  # noqa: E402
from storage import open_storage  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
CLEANUPS = ("project", "clear-session-only", "none")


def patch_cleanup(mode: str) -> None:
    if mode in ("clear-session-only", "none"):
        search.objective.gc = types.SimpleNamespace(collect=lambda *args: 0)  # type: ignore[attr-defined]
    if mode == "none":
        keras.backend.clear_session = lambda *args, **kwargs: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cleanup", choices=CLEANUPS, default="project")
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()
    patch_cleanup(args.cleanup)

    workdir = Path(tempfile.mkdtemp(prefix="fmnist-bench-memory-"))
    rss: list[float] = []
    seconds: list[float] = []
    states: list[str] = []
    try:
        url = f"sqlite:///{workdir / 'memory.db'}"
        start_or_resume(
            open_storage(url), "memory", space="dense", max_epochs=args.epochs,
            seed=args.seed, subset=args.subset, n_trials=args.trials,
        )  # fmt: skip
        before = rss_mib()
        last = time.perf_counter()

        def after_trial(trial: optuna.trial.FrozenTrial) -> None:
            nonlocal last
            rss.append(rss_mib())
            now = time.perf_counter()
            seconds.append(now - last)
            last = now
            states.append(trial.state.name)

        ran = run_worker(WorkerJob(url, "memory"), after_trial=after_trial)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{ran} trials of the dense space, subset {args.subset}, {args.epochs} epoch(s), cleanup={args.cleanup}")
    print("states: " + ", ".join(f"{s} {states.count(s)}" for s in sorted(set(states))))
    print(f"RSS before run_worker (TF imported, nothing loaded): {before:.1f} MiB\n")
    marks = sorted({1, 5, 10, 20, len(rss)} & set(range(1, len(rss) + 1)))
    print_table(("after trial", "RSS MiB"), [(n, rss[n - 1]) for n in marks])
    if len(rss) >= 5:
        growth = rss[-1] - rss[4]
        per_trial = growth / (len(rss) - 5) if len(rss) > 5 else 0.0
        print(f"\ngrowth from trial 5 to {len(rss)}: {growth:+.1f} MiB ({per_trial:+.2f} MiB per trial)")
    print(f"peak RSS {max(rss):.1f} MiB; median seconds per trial {median(seconds[1:] or seconds):.3f}")
    save_json(args.json, {"args": vars(args), "rss_mib": rss, "trial_s": seconds, "states": states, "before_mib": before})


if __name__ == "__main__":
    main()
