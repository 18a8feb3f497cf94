"""Reliability under load: many worker processes, a chaos loop, and the promises checked at the end.

    python -m bench.soak                      # PostgreSQL, 32 workers, 10 min; then SQLite, 8 workers, 10 min
    python -m bench.soak --backend sqlite --workers 8 --minutes 3
    python -m bench.soak --engine keras-tuner --backend sqlite --workers 3 --minutes 4

Real `fmnist-search start` parents (each with its worker processes), a real store, real signals;
the training is a stub of a few seconds a trial (bench/with_objective.py), because this measures
the store and the lifecycle, not Keras. While the chaos loop runs, it SIGKILLs random workers,
SIGTERMs others, SIGKILLs a whole `start` parent (its workers must follow it), starts a new parent
whenever one has ended, and on PostgreSQL stops the server for 60 s, twice. Then the study gets a
budget a little above what it holds, as `start --study soak --trials N` would, and the surviving
workers must end the run by themselves.

Asserted at the end: the budget is exact; nothing is RUNNING or WAITING; every interrupted trial
was re-run with its params (or gave up after its retries, said so); no two lineages share a
parameter set; no process of the run is left. Printed: trials/s, p50/p99 of the store calls a
trial makes per epoch (report + should_prune), the peak number of PostgreSQL connections.

The stub trial is in bench/_soak_objective.py, the parents and the chaos loop's blows in
bench/_soak_chaos.py, the result and its promises in bench/_soak_result.py.

With ``--engine keras-tuner`` the parents are KerasTuner searches (one process each, real Keras
training on 300 images, 2 epochs), and the blows SIGKILL or SIGTERM them: a KerasTuner trial is
written only when it ends, so the promise is the exact budget with no claim left held by the dead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna

from bench._soak_chaos import ENV, ROOT, STUDY, Parents, chaos_blow
from bench._soak_objective import soak_objective
from bench._soak_result import SoakResult, check_promises

__all__ = ["SoakResult", "main", "run_soak", "soak_objective"]

CHAOS_EVERY_S = 6.0
OUTAGE_S = 60.0
FINAL_MARGIN = 40  # trials added to what the study holds when the chaos ends


def _watch_connections(server: Any, database: str, peak: list[int], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        try:
            connection = server.connect()
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,))
                    peak[0] = max(peak[0], int(cursor.fetchone()[0]))
            finally:
                connection.close()
        except Exception:  # noqa: BLE001 - the server is down on purpose now and then
            continue


def run_soak(backend: str, workers: int, minutes: float, seed: int = 0, engine: str = "optuna") -> SoakResult:
    """One soak run; the result's ``failures`` list says which promises broke (empty: none)."""
    from search.study.settings import start_or_resume
    from storage import open_storage
    from storage.budget import Budget

    for name, value in ENV.items():
        os.environ[name] = value
    rng = random.Random(seed)
    result = SoakResult(backend, workers, minutes, engine=engine)
    home = Path(tempfile.mkdtemp(prefix=f"fmnist-soak-{backend}-"))
    server, stop_watch, peak = None, threading.Event(), [0]
    if backend == "postgresql":
        server, url, database = _postgres()
        threading.Thread(target=_watch_connections, args=(server, database, peak, stop_watch), daemon=True).start()
    else:
        url = f"sqlite:///{home / 'soak.db'}"
    # A large budget while the chaos runs, so every claim is counted; the sampler is random (TPE's
    # cost grows with the trials, and this measures the store, not the sampler).
    sizes = {"max_epochs": 2, "subset": 300} if engine == "keras-tuner" else {"max_epochs": 4}
    start_or_resume(
        open_storage(url), STUDY, space="dense", sampler="random", pruner="median", n_trials=1_000_000, **sizes
    )
    parents = Parents(url, workers, home, engine)
    started = time.time()
    end_chaos = started + 60 * minutes
    outages = [started + 60 * minutes * f for f in (0.3, 0.65)] if server else []
    try:
        parents.keep_up()
        while time.time() < end_chaos:
            time.sleep(CHAOS_EVERY_S * rng.uniform(0.5, 1.5))
            if outages and time.time() >= outages[0]:
                outages.pop(0)
                server.stop()
                result.chaos["database stopped"] = result.chaos.get("database stopped", 0) + 1
                time.sleep(OUTAGE_S)
                server.start()
                continue
            chaos_blow(parents, result.chaos, rng)
            parents.keep_up()
            print(f"\r{(time.time() - started) / 60:5.1f} min  {result.chaos}", end="", file=sys.stderr, flush=True)
        storage = open_storage(url)
        result.budget = Budget(url, STUDY).claimed() + FINAL_MARGIN
        start_or_resume(storage, STUDY, n_trials=result.budget)  # as `start --study soak --trials N`
        # Claims made while that call ran were made under the old limit: their trials run to the
        # end. The promise is that none is made past the limit once it is in force.
        result.claimed_at_budget = Budget(url, STUDY).claimed()
        result.budget = max(result.budget, result.claimed_at_budget)
        parents.keep_up()
        deadline = time.time() + 600
        while parents.alive() and time.time() < deadline:
            time.sleep(1.0)
        result.seconds = time.time() - started
        time.sleep(3.0)  # workers of a parent that just ended are given their SIGTERM
        leftovers = parents.leftovers()
        if leftovers:
            result.failures.append(f"{len(leftovers)} process(es) outlived the run: {leftovers[:3]}")
    finally:
        stop_watch.set()
        for parent in parents.started:
            if parent.poll() is None:
                os.killpg(parent.pid, signal.SIGKILL)
    check_promises(result, optuna.load_study(study_name=STUDY, storage=open_storage(url)))
    result.peak_connections = peak[0] if server else None
    if server:
        server.cleanup()
    return result


def _postgres() -> tuple[Any, str, str]:
    """A throwaway PostgreSQL cluster on loopback (as the tests start one), with room for many workers."""
    from tests import pg_fixtures

    bin_dir = pg_fixtures.find_bin_dir()
    if bin_dir is None:
        raise SystemExit(f"error: {pg_fixtures.SKIP_REASON}")
    pg_fixtures.SERVER_SETTINGS["max_connections"] = "500"
    run_as = pg_fixtures._unprivileged_user() if os.geteuid() == 0 else None
    server = pg_fixtures.PostgresServer(bin_dir, Path(tempfile.mkdtemp(prefix="fmnist-soak-pg-")), run_as)
    server.init()
    server.start()
    connection = server.connect()
    with connection.cursor() as cursor:
        cursor.execute('CREATE DATABASE "soak"')
    connection.close()
    return server, server.url("soak"), "soak"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--engine", choices=("optuna", "keras-tuner"), default="optuna")
    parser.add_argument("--workers", type=int, help="worker processes (default 32 on PostgreSQL, 8 on SQLite)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the chaos loop runs (default 10)")
    parser.add_argument("--epoch-seconds", type=float, default=0.5, help="one stub epoch (4 a trial)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-soak.json")
    args = parser.parse_args(argv)
    os.environ["FMNIST_SOAK_EPOCH_SECONDS"] = str(args.epoch_seconds)
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    results = []
    for backend in backends:
        workers = args.workers or (3 if args.engine == "keras-tuner" else 32 if backend == "postgresql" else 8)
        print(f"{backend}, {args.engine}: {workers} workers, chaos for {args.minutes:g} min", file=sys.stderr)
        result = run_soak(backend, workers, args.minutes, engine=args.engine)
        results.append(asdict(result))
        print(f"\n{json.dumps(asdict(result), indent=2)}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
