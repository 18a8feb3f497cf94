"""Reliability under load: many worker processes, a chaos loop, and the promises checked at the end.

    python -m bench.soak                      # PostgreSQL, 32 workers, 10 min; then SQLite, 8 workers, 10 min
    python -m bench.soak --backend sqlite --workers 8 --minutes 3

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
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

ROOT = Path(__file__).resolve().parents[1]
STUDY = "soak"
WORKERS_PER_PARENT = 8
CHAOS_EVERY_S = 6.0
OUTAGE_S = 60.0
FINAL_MARGIN = 40
STARTUP_S = 90.0  # a parent younger than this may not have started all its workers yet  # trials added to what the study holds when the chaos ends
ENV = {
    "FMNIST_HEARTBEAT_INTERVAL": "5",
    "FMNIST_GRACE_PERIOD": "20",
    "FMNIST_OUTAGE_SECONDS": "300",
}


# ---------------------------------------------------------------- the stub trial (in the workers)


def soak_objective(job: Any, settings: Any, _listener: Any) -> Any:
    """A trial of a few seconds: sleeps per epoch, reports, asks the pruner, times those store calls."""
    from search.runtime import interrupts
    from spaces.adapters import suggest

    epoch_seconds = float(os.environ.get("FMNIST_SOAK_EPOCH_SECONDS", "0.5"))

    def objective(trial: optuna.Trial) -> float:
        params = suggest(settings.space, trial)
        quality = 0.5 + (hash(repr(sorted(params.items()))) % 1000) / 2000
        store_ms: list[float] = []
        value = 0.0
        try:
            for epoch in range(1, settings.max_epochs + 1):
                interrupts.sleep(epoch_seconds)
                value = quality * (1 - 0.5**epoch)
                started = time.perf_counter()
                trial.report(value, epoch)
                prune = trial.should_prune()
                store_ms.append(1000 * (time.perf_counter() - started))
                if prune:
                    raise optuna.TrialPruned()
            return value
        finally:
            trial.set_user_attr("store_ms", [round(ms, 2) for ms in store_ms])

    return objective


# ---------------------------------------------------------------- the run (in this process)


@dataclass
class SoakResult:
    backend: str
    workers: int
    minutes: float
    seconds: float = 0.0
    finished: int = 0
    budget: int = 0
    claimed_at_budget: int = 0  # claims in the store once the final budget was set
    trials_per_second: float = 0.0
    store_ms_p50: float = 0.0
    store_ms_p99: float = 0.0
    peak_connections: int | None = None
    chaos: dict[str, int] = field(default_factory=dict)
    interrupted: int = 0
    rerun: int = 0
    gave_up: int = 0
    failures: list[str] = field(default_factory=list)


class Parents:
    """The `start` processes of the run, each in a session of its own (as from its own terminal)."""

    def __init__(self, url: str, workers: int, home: Path) -> None:
        self.url, self.workers, self.home = url, workers, home
        self.started: list[subprocess.Popen[bytes]] = []
        self.since: dict[int, float] = {}  # pid -> when that parent was started
        self.log = open(home / "parents.log", "ab")  # noqa: SIM115 - open for the whole run

    def start(self, workers: int) -> None:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT), "FMNIST_SEARCH_HOME": str(self.home)}
        command = [
            sys.executable,
            "-m",
            "bench.with_objective",
            "bench.soak:soak_objective",
            "start",
            "--study",
            STUDY,
            "--workers",
            str(workers),
            "--storage",
            self.url,
        ]
        self.started.append(
            subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=self.log, stderr=self.log)
        )
        self.since[self.started[-1].pid] = time.time()

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.started if p.poll() is None]

    def keep_up(self) -> None:
        """Start parents until the run has its number of workers again (killed workers are not replaced by their parent)."""
        # A parent still starting up (imports, data, spawning: long on a loaded CPU) counts as full.
        running = sum(
            WORKERS_PER_PARENT if time.time() - self.since[p.pid] < STARTUP_S else len(_children(p.pid))
            for p in self.alive()
        )
        while running + WORKERS_PER_PARENT <= self.workers or not self.alive():
            self.start(min(WORKERS_PER_PARENT, self.workers))
            running += WORKERS_PER_PARENT

    def leftovers(self) -> list[str]:
        return [line for p in self.started for line in _session(p.pid)]


def _children(pid: int) -> list[int]:
    """The worker processes of a parent (not multiprocessing's resource tracker)."""
    listing = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in listing.splitlines()]
    return [int(row[0]) for row in rows if int(row[1]) == pid and "spawn_main" in row[2]]


def _session(sid: int) -> list[str]:
    listing = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    return [
        line for line in listing.splitlines() if line.split()[1] == str(sid) and not line.split()[2].startswith("Z")
    ]


def _chaos(parents: Parents, counts: dict[str, int], rng: random.Random) -> None:
    """One random blow: SIGKILL a worker, SIGTERM a worker, or SIGKILL a parent."""
    alive = parents.alive()
    workers = [(parent, child) for parent in alive for child in _children(parent.pid)]
    action = rng.choices(["kill worker", "term worker", "kill parent"], weights=[4, 3, 1])[0]
    try:
        if action == "kill parent" and len(alive) > 1:
            os.kill(rng.choice(alive).pid, signal.SIGKILL)
        elif workers:
            _, pid = rng.choice(workers)
            os.kill(pid, signal.SIGKILL if action == "kill worker" else signal.SIGTERM)
        else:
            return
    except ProcessLookupError:
        return
    counts[action] = counts.get(action, 0) + 1


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


def run_soak(backend: str, workers: int, minutes: float, seed: int = 0) -> SoakResult:
    """One soak run; the result's ``failures`` list says which promises broke (empty: none)."""
    from search.study.settings import start_or_resume
    from storage import open_storage
    from storage.budget import Budget

    for name, value in ENV.items():
        os.environ[name] = value
    rng = random.Random(seed)
    result = SoakResult(backend, workers, minutes)
    home = Path(tempfile.mkdtemp(prefix=f"fmnist-soak-{backend}-"))
    server, stop_watch, peak = None, threading.Event(), [0]
    if backend == "postgresql":
        server, url, database = _postgres()
        threading.Thread(target=_watch_connections, args=(server, database, peak, stop_watch), daemon=True).start()
    else:
        url = f"sqlite:///{home / 'soak.db'}"
    # A large budget while the chaos runs, so every claim is counted; the sampler is random (TPE's
    # cost grows with the trials, and this measures the store, not the sampler).
    start_or_resume(
        open_storage(url), STUDY, space="dense", max_epochs=4, sampler="random", pruner="median", n_trials=1_000_000
    )
    parents = Parents(url, workers, home)
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
            _chaos(parents, result.chaos, rng)
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
    _check(result, optuna.load_study(study_name=STUDY, storage=open_storage(url)))
    result.peak_connections = peak[0] if server else None
    if server:
        server.cleanup()
    return result


def _check(result: SoakResult, study: optuna.Study) -> None:
    """The promises: exact budget, nothing left running or waiting, interrupted trials re-run, no repeats."""
    from search.study.settings import FINISHED

    State = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in FINISHED]
    result.finished = len(finished)
    result.trials_per_second = round(result.finished / max(result.seconds, 1.0), 3)
    if result.finished != result.budget:
        result.failures.append(f"{result.finished} trials finished for a budget of {result.budget}")
    left = [t.number for t in trials if t.state in (State.RUNNING, State.WAITING)]
    if left:
        result.failures.append(f"trials left RUNNING or WAITING: {left[:10]}")
    store_ms = [ms for t in trials for ms in t.user_attrs.get("store_ms", [])]
    if store_ms:
        result.store_ms_p50 = round(statistics.median(store_ms), 2)
        result.store_ms_p99 = round(statistics.quantiles(store_ms, n=100)[98], 2)
    # Lineages: a re-run points at what it re-runs (requeued_from after a signal or a timeout,
    # failed_trial after a dead worker); params may repeat inside a lineage, never across two.
    origin: dict[int, int] = {}
    for t in trials:
        source = t.user_attrs.get("requeued_from", t.system_attrs.get("failed_trial"))
        origin[t.number] = origin.get(source, source) if source is not None else t.number
    lineages: dict[str, set[int]] = {}
    counted: dict[str, int] = {}
    for t in trials:
        if t.params:  # a trial killed before it drew its params has none
            key = json.dumps(t.params, sort_keys=True)
            lineages.setdefault(key, set()).add(origin[t.number])
            counted[key] = counted.get(key, 0) + (t.state in FINISHED)
    repeated = [params for params, roots in lineages.items() if len(roots) > 1]
    if repeated:
        result.failures.append(f"{len(repeated)} parameter set(s) drawn by two lineages: {repeated[:2]}")
    twice = [params for params, n in counted.items() if n > 1]
    if twice:
        result.failures.append(f"{len(twice)} parameter set(s) finished twice (counted twice): {twice[:2]}")
    failed = [t for t in trials if t.state == State.FAIL]
    result.interrupted = len(failed)
    rerun_of = {n for t in trials for n in (t.user_attrs.get("requeued_from"), t.system_attrs.get("failed_trial"))}
    rerun_of |= {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    gave_up = [t for t in failed if t.number not in rerun_of and len(t.system_attrs.get("retry_history", [])) >= 2]
    lost = [t.number for t in failed if t.number not in rerun_of and t not in gave_up]
    result.rerun, result.gave_up = len(failed) - len(gave_up) - len(lost), len(gave_up)
    if lost:
        result.failures.append(f"interrupted trials never re-run: {lost[:10]}")


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
    parser.add_argument("--workers", type=int, help="worker processes (default 32 on PostgreSQL, 8 on SQLite)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the chaos loop runs (default 10)")
    parser.add_argument("--epoch-seconds", type=float, default=0.5, help="one stub epoch (4 a trial)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-soak.json")
    args = parser.parse_args(argv)
    os.environ["FMNIST_SOAK_EPOCH_SECONDS"] = str(args.epoch_seconds)
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    results = []
    for backend in backends:
        workers = args.workers or (32 if backend == "postgresql" else 8)
        print(f"{backend}: {workers} workers, chaos for {args.minutes:g} min", file=sys.stderr)
        result = run_soak(backend, workers, args.minutes)
        results.append(asdict(result))
        print(f"\n{json.dumps(asdict(result), indent=2)}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
