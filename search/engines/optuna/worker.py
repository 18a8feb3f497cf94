"""A worker: one process that loads the data once and runs trials of one study until its budget is spent.

The worker is the "how to train" half; the trial coordinator (search/engines/coordinator.py) is
the other: it claims each trial's slot of the study-wide budget, asks Optuna for the trial, beats
while it trains, tells its end, re-queues a trial cut short by Ctrl-C, SIGTERM or the run's
timeout, recovers the trials of dead workers and counts the failure streak.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

import optuna

from search import notices
from search.data.loader import load_train_val
from search.engines.coordinator import MAX_CONSECUTIVE_FAILURES, Coordinator, failure_reason
from search.engines.interface import EpochListener, WorkerJob
from search.engines.record import attach_report, update_plots, warm_up_plots
from search.errors import WorkerError
from search.runtime import interrupts
from search.runtime.quiet import configure_logging
from search.study.settings import StudySettings, open_study
from storage import open_storage
from storage.artifacts import open_artifact_store
from storage.budget import Budget
from storage.runs import next_run

__all__ = ["MAX_CONSECUTIVE_FAILURES", "Objective", "ObjectiveFactory", "WorkerError", "WorkerJob", "run_worker"]


Objective = Callable[[optuna.Trial], float]
# Builds a worker's objective once (imports the backend, loads the data): (job, settings, listener).
ObjectiveFactory = Callable[[WorkerJob, StudySettings, "EpochListener | None"], Objective]


def keras_objective(job: WorkerJob, settings: StudySettings, listener: EpochListener | None) -> Objective:
    """The real objective: Keras imported once and the data loaded once, for all of this worker's trials."""
    from search.runtime.quiet import import_keras

    import_keras(job.verbose)
    from search.engines.optuna.objective import TrainingContext, train_trial
    from search.runtime.devices import apply_backend_limits, describe_device
    from search.runtime.memory import freeze_long_lived_objects

    apply_backend_limits()
    data = load_train_val(job.data_dir, settings.subset)
    context = TrainingContext(data, settings.max_epochs, settings.seed, job.worker_id, describe_device(), job.deadline)
    artifacts = open_artifact_store(job.storage_url)
    warm_up_plots()
    freeze_long_lived_objects()

    def objective(trial: optuna.Trial) -> float:
        # Attach the learning curve and note before Optuna's tell: a finished trial is read-only.
        try:
            value = train_trial(trial, settings.space, context, listener)
        except optuna.TrialPruned:
            attach_report(trial, artifacts, settings.max_epochs, pruned=True)
            raise
        attach_report(trial, artifacts, settings.max_epochs, pruned=False)
        return value

    return objective


def _named_factory(named: str | None) -> ObjectiveFactory:
    """The factory a job names ("module:function"), or the Keras trainer."""
    if not named:
        return keras_objective
    module, _, name = named.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def run_worker(
    job: WorkerJob,
    listener: EpochListener | None = None,
    after_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    objective_factory: ObjectiveFactory | None = None,
) -> int:
    """Run trials until the study's budget or the deadline is reached; return how many ran here.

    ``objective_factory`` is the seam where tests put a stub trainer (default: the one the job
    names, ``WorkerJob.objective_factory``, else the Keras one; the job's reaches the worker
    processes of a real ``start`` for the lifecycle tests and bench/soak.py); the store, budget,
    heartbeats, pruning, re-queueing and failure handling stay real.
    """
    notices.show_on_stderr()  # a direct call (a test, a notebook): warnings as plain lines, unless a UI shows them
    os.environ.update(job.env)  # before the backend is imported: device and thread settings
    configure_logging(job.verbose)  # a spawned worker process starts with Optuna's chatty defaults
    storage = open_storage(job.storage_url, must_exist=False)
    run = job.run if job.run is not None else next_run(job.storage_url, job.study_name)
    study, settings = open_study(storage, job.study_name, job.worker_id, run)
    coordinator = Coordinator(study, Budget(job.storage_url, job.study_name))
    train = (objective_factory or _named_factory(job.objective_factory))(job, settings, listener)
    ran = 0
    if not interrupts.handled():
        interrupts.reset()  # a direct call: an earlier Ctrl-C must not stop this run
    interrupts.check()  # a signal during the imports above (a parent that died meanwhile): no trial starts
    try:
        while (slot := coordinator.next_slot(job.deadline)) is not None:
            with slot:
                ended = coordinator.run_trial(slot, train)
            if ended.trial is None:
                continue  # another worker failed it as stale (after an outage) and re-queued it
            if ended.interrupted:
                interrupts.check()
            ran += 1
            if after_trial:
                after_trial(ended.trial)
            if ended.out_of_time:
                break
            if ended.succeeded:
                coordinator.count_success()
                update_plots(study)
                continue
            reason = failure_reason(ended.error)
            coordinator.count_failure(f"trial {ended.trial.number} failed: {reason}", reason)
    finally:
        if not interrupts.handled():
            interrupts.reset()  # a direct call (a test, a notebook): its Ctrl-C must not stop later code
    return ran
