"""Epochs per second summed over workers: 1 vs 2 worker processes on this machine, side by side.

Each side runs a fresh study on a temporary SQLite store, with the default dense model fixed
(the sampler chooses nothing), a fixed stratified subset, no pruning and `--trials-per-worker`
trials per worker, through the same worker processes `fmnist-search start --workers N` uses
(spawned, each with its share of the cores from `worker_environment`). Throughput is the
epochs trained divided by the span from the first trial's start to the last one's end, read
from the store, so process start and TensorFlow's import are not counted. Rounds alternate
1 and 2 workers; medians are reported.

    python -m bench.parallel [--subset 10000] [--epochs 3] [--trials-per-worker 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from bench._common import median, write_default_space
from search.engines.optuna.worker import WorkerJob
from search.engines.runner import worker_process_main
from search.runtime.devices import worker_environment
from search.runtime.quiet import configure_logging
from search.study.settings import open_study, start_or_resume
from storage import open_storage


def epochs_per_second(
    n_workers: int,
    subset: int,
    epochs: int,
    trials_per_worker: int,
    gpus: list[str] | None = None,
    family: str = "dense",
    data_dir: str | None = None,
) -> float:
    """Epochs trained per second by ``n_workers`` processes together, on ``gpus`` (shared round-robin) or the CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        space = write_default_space(Path(tmp), family)
        start_or_resume(
            open_storage(url),
            "bench",
            space=str(space),
            max_epochs=epochs,
            subset=subset,
            pruner="none",
            seed=0,
            n_trials=n_workers * trials_per_worker,
        )
        job = WorkerJob(url, "bench", data_dir=data_dir)
        context = multiprocessing.get_context("spawn")
        cores = os.cpu_count() or 1
        processes = [
            context.Process(
                target=worker_process_main,
                args=(replace(job, worker_id=i, env=worker_environment(i, n_workers, gpus or [], cores)),),
            )
            for i in range(n_workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if any(process.exitcode != 0 for process in processes):
            raise RuntimeError(
                f"{n_workers} workers: exit codes {[p.exitcode for p in processes]}; see their messages above"
            )
        study, _ = open_study(open_storage(url), "bench")
        trials = study.trials
        trained = sum(len(t.intermediate_values) for t in trials)
        span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
        return trained / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trials-per-worker", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configure_logging()
    results: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(args.repeats):
        for n in (1, 2):
            rate = epochs_per_second(n, args.subset, args.epochs, args.trials_per_worker)
            results[n].append(rate)
            print(f"round {round_ + 1}: {n} worker(s): {rate:.3f} epochs/s (load {os.getloadavg()[0]:.1f})", flush=True)
    ratios = [two / one for one, two in zip(results[1], results[2], strict=True)]
    print(
        f"\ncores: {os.cpu_count()}  subset {args.subset}  epochs {args.epochs}  trials/worker {args.trials_per_worker}"
    )
    print(f"1 worker : median {median(results[1]):.3f} epochs/s")
    print(f"2 workers: median {median(results[2]):.3f} epochs/s (summed)")
    print(f"2 / 1    : median per-round ratio {median(ratios):.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "epochs_per_s": results, "ratios": ratios}, indent=2
            )
        )


if __name__ == "__main__":
    main()
