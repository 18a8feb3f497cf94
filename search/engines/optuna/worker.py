"""A worker: one process that loads the data once and runs trials of one study until its budget is spent.

Before each trial the worker claims a slot of the study-wide budget (storage/budget.py); a
trial that fails gives it back. A trial cut short by Ctrl-C, SIGTERM or the run's timeout is
recorded as failed, gives its slot back and is re-queued with the same params, so the next
start (or another worker) runs it again. A worker killed outright (SIGKILL, power loss) stops
beating; another worker marks its trial failed after the grace period and re-queues it.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable

import optuna
import sqlalchemy

from search.engines.interface import EpochListener, WorkerJob
from search.errors import StorageError, WorkerError
from search.runtime import interrupts
from search.ui.console import report_error
from search.data.loader import load_train_val
from search.engines.deadline import DeadlineReached
from search.engines.record import attach_report, one_line, update_plots
from search.engines.optuna.lifecycle import WORKER_PROCESS_ATTR, ClaimWatch, finished_elsewhere, trial_state, worker_process
from search.runtime.quiet import configure_logging
from search.study.settings import FINISHED, StudySettings, open_study
from search.ui.trial_report import warm_up_study_plots
from storage import open_storage
from storage.artifacts import open_artifact_store
from storage.budget import Budget, TrialSlot
from storage.optuna_store import fail_stale_trials
from storage.reconnect import is_connection_error, outage_seconds
from storage.runs import next_run


# A worker whose trials keep failing has a bug or a broken environment, not bad luck.
MAX_CONSECUTIVE_FAILURES = 3
REQUEUED_FROM = "requeued_from"
OBJECTIVE_FACTORY_ENV = "FMNIST_OBJECTIVE_FACTORY"


Objective = Callable[[optuna.Trial], float]
# Builds a worker's objective once (imports the backend, loads the data): (job, settings, listener).
ObjectiveFactory = Callable[[WorkerJob, StudySettings, "EpochListener | None"], Objective]


def keras_objective(job: WorkerJob, settings: StudySettings, listener: EpochListener | None) -> Objective:
    """The real objective: Keras imported once and the data loaded once, for all of this worker's trials."""
    from search.runtime.quiet import import_keras

    import_keras(job.verbose)
    from search.runtime.memory import freeze_long_lived_objects
    from search.runtime.devices import apply_backend_limits, describe_device
    from search.engines.optuna.objective import TrainingContext, train_trial

    apply_backend_limits()
    data = load_train_val(job.data_dir, settings.subset)
    context = TrainingContext(data, settings.max_epochs, settings.seed, job.worker_id, describe_device(), job.deadline)
    artifacts = open_artifact_store(job.storage_url)
    warm_up_study_plots()
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


def _objective_factory() -> ObjectiveFactory:
    named = os.environ.get(OBJECTIVE_FACTORY_ENV)
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

    ``objective_factory`` is the seam where tests put a stub trainer (default: the Keras one, or
    the ``module:function`` named by ``FMNIST_OBJECTIVE_FACTORY``, which reaches the worker
    processes of a real ``start`` for the lifecycle tests and bench/soak.py); the store, budget,
    heartbeats, pruning, re-queueing and failure handling stay real.
    """
    os.environ.update(job.env)  # before the backend is imported: device and thread settings
    configure_logging(job.verbose)  # a spawned worker process starts with Optuna's chatty defaults
    storage = open_storage(job.storage_url, must_exist=False)
    run = job.run if job.run is not None else next_run(job.storage_url, job.study_name)
    study, settings = open_study(storage, job.study_name, job.worker_id, run)
    budget = Budget(job.storage_url, job.study_name)
    train = (objective_factory or _objective_factory())(job, settings, listener)

    errors: list[Exception] = []
    current: list[optuna.Trial] = []

    def objective(trial: optuna.Trial) -> float:
        current[:] = [trial]
        # Which process runs it: the parent of a worker that dies fails and re-queues its trial at once.
        trial.set_user_attr(WORKER_PROCESS_ATTR, worker_process())
        try:
            return train(trial)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            errors.append(error)  # Optuna records the trial as failed; we keep why, for the user
            raise

    finished: list[optuna.trial.FrozenTrial] = []
    ran = failures = 0
    waiting = ClaimWatch(study, budget)
    interrupts.reset()
    try:
        while job.deadline is None or time.time() < job.deadline:
            interrupts.check()
            # Dead workers' trials first: failed, their slots given back, their params re-queued.
            fail_stale_trials(study)
            slot = budget.claim_slot()
            if slot is None:
                if waiting.budget_done():
                    break
                interrupts.sleep(waiting.poll_seconds)  # claims held by running trials: wait for them to end
                continue
            waiting.reset()
            with slot:
                current.clear()
                errors.clear()
                if not _run_one_trial(study, objective, slot, current, finished):
                    continue  # another worker failed it as stale (after an outage) and re-queued it
                if interrupts.received() is not None:
                    # A signal that came after the trial's last epoch finds it finished: it keeps its
                    # slot and is not run again (that would count its params twice).
                    if current and trial_state(study, current[0]) in FINISHED:
                        slot.keep()
                    else:
                        _requeue(study, current[0] if current else None)
                    interrupts.check()
                ran += 1
                last = finished[-1]
                succeeded = last.state != optuna.trial.TrialState.FAIL
                if succeeded:
                    slot.keep()
                if after_trial:
                    after_trial(last)
                if succeeded:
                    failures = 0
                    update_plots(study)
                    continue
                if errors and isinstance(errors[-1], DeadlineReached):
                    _requeue(study, current[0])
                    break
            failures += 1
            report_error(
                f"trial {last.number} failed: {one_line(errors[-1]) if errors else 'unknown reason'}", label="warning"
            )
            if failures >= MAX_CONSECUTIVE_FAILURES:
                reason = one_line(errors[-1]) if errors else "unknown reason"
                raise WorkerError(f"{failures} trials in a row failed; the last one: {reason}")
    finally:
        budget.close()
        if not interrupts.handled():
            interrupts.reset()  # a direct call (a test, a notebook): its Ctrl-C must not stop later code
    return ran


def _run_one_trial(
    study: optuna.Study,
    objective: Objective,
    slot: TrialSlot,
    current: list[optuna.Trial],
    finished: list[optuna.trial.FrozenTrial],
) -> bool:
    """One ``study.optimize`` trial; False when another process took it over before it ended.

    A signal leaves the trial failed (search/runtime/interrupts.py) and is remembered for the caller to
    re-queue; a store that stays away for the whole outage allowance stops the worker in one line.
    """
    try:
        # Optuna passes every finished trial (any state) to the callbacks: the one we ran.
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[lambda _, t: finished.append(t)])
    except KeyboardInterrupt as error:  # Ctrl-C without our handler (a direct call)
        interrupts.note(error)
    except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
        if not current or not finished_elsewhere(study, current[0]):
            raise
        # Another process judged it stale, gave its slot back and re-queued its params.
        slot.keep()
        report_error(f"trial {current[0].number} was failed as stale by another worker while it ran here; it runs again", label="warning")
        return False
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as error:
        if not is_connection_error(error):
            raise
        slot.keep()  # nothing can be written now; the trial's stale heartbeat gives the slot back later
        raise StorageError(
            f"the store stayed unreachable for over {outage_seconds()} s; this worker stops, and the next one "
            "to reach the store re-queues its trial"
        ) from error
    return True


def _requeue(study: optuna.Study, trial: optuna.Trial | None) -> None:
    """An unfinished trial (interrupted, out of time): queue its params to run again."""
    if trial is not None:
        # A known-good first trial stays one (search/study/pruner.py lets it train to the end).
        kept = {key: trial.user_attrs[key] for key in ("warm_start",) if key in trial.user_attrs}
        study.enqueue_trial(trial.params, user_attrs={**kept, REQUEUED_FROM: trial.number})
