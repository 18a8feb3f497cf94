"""Storage cost of one epoch report (`trial.report` + `trial.should_prune`) in ms, SQLite vs PostgreSQL.

What a worker pays per epoch for talking to the store. Both stores are opened with the
project's `open_storage` (SQLite: WAL, busy timeout; PostgreSQL: a throwaway server on
127.0.0.1 started here, as the tests do). Each study is first filled with finished trials
that have per-epoch values, so the pruner (default Hyperband) has something to compare with;
then rounds alternate between the stores, each timing `--steps` reports of one new trial.

    python -m bench.storage_cost [--history 30] [--steps 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import optuna

from bench._common import median
from search.study.settings import make_pruner
from storage import open_storage
from tests.pg_fixtures import PostgresServer, _unprivileged_user, find_bin_dir


def filled_study(url: str, history: int, steps: int) -> optuna.Study:
    study = optuna.create_study(storage=open_storage(url), direction="maximize", pruner=make_pruner("hyperband", steps))
    for number in range(history):
        trial = study.ask()
        for step in range(1, steps + 1):
            trial.report(0.5 + 0.01 * number + 0.001 * step, step)
        study.tell(trial, 0.5 + 0.01 * number)
    return study


def ms_per_report(study: optuna.Study, steps: int) -> float:
    trial = study.ask()
    started = time.perf_counter()
    for step in range(1, steps + 1):
        trial.report(0.9, step)  # a good trial: never pruned, so every step is timed
        trial.should_prune()
    elapsed = time.perf_counter() - started
    study.tell(trial, 0.9)
    return elapsed / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=30, help="finished trials in the study before timing")
    parser.add_argument("--steps", type=int, default=20, help="epochs reported per timed trial")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter(
        "ignore", UserWarning
    )  # "heartbeat is supposed to be used with optimize": ask/tell here on purpose
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL server binaries found (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="fmnist-bench-pg-"))
    server = PostgresServer(bin_dir, base, _unprivileged_user() if os.geteuid() == 0 else None)
    try:
        server.init()
        server.start()
        connection = server.connect()  # autocommit: CREATE DATABASE cannot run in a transaction
        connection.cursor().execute("CREATE DATABASE bench")
        connection.close()
        with tempfile.TemporaryDirectory() as tmp:
            studies = {
                "sqlite": filled_study(f"sqlite:///{Path(tmp) / 'bench.db'}", args.history, args.steps),
                "postgresql": filled_study(server.url("bench"), args.history, args.steps),
            }
            results: dict[str, list[float]] = {name: [] for name in studies}
            for _ in range(args.repeats):
                for name, study in studies.items():
                    results[name].append(ms_per_report(study, args.steps))
    finally:
        server.cleanup()
    for name, values in results.items():
        print(
            f"{name:10s}: median {median(values):.2f} ms per report + should_prune  "
            f"(runs: {', '.join(f'{v:.2f}' for v in values)})"
        )
    print(f"postgresql / sqlite: {median(results['postgresql']) / median(results['sqlite']):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "ms": results}, indent=2))


if __name__ == "__main__":
    main()
