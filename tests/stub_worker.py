"""Workers whose training is stubbed: the store, budget, heartbeats, pruning and re-queueing stay real.

Used by the parallel-work tests, in spawned processes and subprocesses; not a test module.
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import Any

import optuna

from search.engines.optuna.worker import Objective, WorkerJob, run_worker
from search.runtime import interrupts
from search.study.settings import StudySettings
from spaces.adapters import suggest


def stub_factory(epoch_seconds: float):
    """An objective factory whose trials 'train' by sleeping and report a made-up accuracy per epoch."""

    def factory(job: WorkerJob, settings: StudySettings, _listener: Any) -> Objective:
        def objective(trial: optuna.Trial) -> float:
            params = suggest(settings.space, trial)
            trial.set_user_attr("worker_id", job.worker_id)
            # A fixed quality per params, so a re-queued trial repeats its predecessor exactly.
            quality = 0.5 + int(hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:6], 16) / 2**24 / 2
            value = 0.0
            for epoch in range(1, settings.max_epochs + 1):
                interrupts.sleep(epoch_seconds)  # an epoch of training, cut short by Ctrl-C or SIGTERM as Keras's is
                if job.deadline is not None and time.time() >= job.deadline and epoch < settings.max_epochs:
                    from search.engines.deadline import DeadlineReached

                    raise DeadlineReached("time ran out")
                value = quality * (1 - 0.5**epoch)
                trial.report(value, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return value

        return objective

    return factory


def factory_from_env(job: WorkerJob, settings: StudySettings, listener: Any) -> Objective:
    """The stub in a real `start`'s workers:
    ``python -m bench.with_objective tests.stub_worker:factory_from_env start ...``.

    FMNIST_STUB_EPOCH_SECONDS sets its pace; FMNIST_STUB_FAIL makes every trial raise that message.
    """
    import os

    failure = os.environ.get("FMNIST_STUB_FAIL")
    if failure:

        def failing(_trial: optuna.Trial) -> float:
            raise RuntimeError(failure)

        return failing
    return stub_factory(float(os.environ.get("FMNIST_STUB_EPOCH_SECONDS", "0.1")))(job, settings, listener)


def run_stub_worker(job: WorkerJob, epoch_seconds: float) -> int:
    """Spawn target: one stub worker."""
    return run_worker(job, objective_factory=stub_factory(epoch_seconds))


if __name__ == "__main__":
    # python -m tests.stub_worker URL STUDY WORKER_ID EPOCH_SECONDS
    url, study, worker_id, epoch_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    run_stub_worker(WorkerJob(url, study, worker_id=worker_id), epoch_seconds)
