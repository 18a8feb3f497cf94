"""bench.soak's processes: the `start` parents of the run, their workers, and the chaos loop's blows."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = "soak"
WORKERS_PER_PARENT = 8
STARTUP_S = 90.0  # a parent younger than this may not have started all its workers yet
ENV = {
    "FMNIST_HEARTBEAT_INTERVAL": "5",
    "FMNIST_GRACE_PERIOD": "20",
    "FMNIST_OUTAGE_SECONDS": "300",
}


class Parents:
    """The `start` processes of the run, each in a session of its own (as from its own terminal).

    With the Optuna engine a parent runs up to ``WORKERS_PER_PARENT`` worker processes of stub
    training; with KerasTuner each parent is one process training real (tiny) Keras models.
    """

    def __init__(self, url: str, workers: int, home: Path, engine: str = "optuna") -> None:
        self.url, self.workers, self.home, self.engine = url, workers, home, engine
        self.started: list[subprocess.Popen[bytes]] = []
        self.since: dict[int, float] = {}  # pid -> when that parent was started
        self.log = open(home / "parents.log", "ab")  # noqa: SIM115 - open for the whole run

    def start(self, workers: int) -> None:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT), "FMNIST_SEARCH_HOME": str(self.home)}
        if self.engine == "keras-tuner":
            command = [sys.executable, "-m", "search", "start", "--engine", "keras-tuner", "--study", STUDY,
                       "--storage", self.url]  # fmt: skip
        else:
            command = [sys.executable, "-m", "bench.with_objective", "bench._soak_objective:soak_objective", "start",
                       "--study", STUDY, "--workers", str(workers), "--storage", self.url]  # fmt: skip
        self.started.append(
            subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=self.log, stderr=self.log)
        )
        self.since[self.started[-1].pid] = time.time()

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.started if p.poll() is None]

    def keep_up(self) -> None:
        """Start parents until the run has its number of workers again (killed workers are not
        replaced by their parent)."""
        if self.engine == "keras-tuner":  # one trainer a parent
            for _ in range(self.workers - len(self.alive())):
                self.start(1)
            return
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


def chaos_blow(parents: Parents, counts: dict[str, int], rng: random.Random) -> None:
    """One random blow: SIGKILL a worker, SIGTERM a worker, or SIGKILL a parent (KerasTuner: SIGKILL or
    SIGTERM a parent, the process that trains)."""
    alive = parents.alive()
    if parents.engine == "keras-tuner":
        if not alive:
            return
        action = rng.choices(["kill parent", "term parent"], weights=[1, 1])[0]
        try:
            os.kill(rng.choice(alive).pid, signal.SIGKILL if action == "kill parent" else signal.SIGTERM)
        except ProcessLookupError:
            return
        counts[action] = counts.get(action, 0) + 1
        return
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
