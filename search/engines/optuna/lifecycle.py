"""Who runs a trial, and what happens to the trials of workers that are gone.

- Each trial records the process that runs it (``worker_process``), so the parent of a worker
  that died fails and re-queues its trial at once (``fail_trials_of_process``) instead of
  waiting for its heartbeat to go stale.
- A worker whose budget is fully claimed waits while claims belong to running trials
  (``ClaimWatch``), so a run ends exact by itself even when one of its workers died.
- A trial that another process failed as stale while it still ran here (after an outage) is
  recognised (``finished_elsewhere``) and left to its re-queued copy.
"""

from __future__ import annotations

import os
import socket
import time

import optuna

from search.study.settings import FINISHED
from storage.budget import Budget
from storage.optuna_store import heartbeat_timings

WORKER_PROCESS_ATTR = "worker_process"


def worker_process(pid: int | None = None) -> str:
    """host:pid of a worker process, as its trials record it."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def fail_trials_of_process(study: optuna.Study, process: str) -> list[int]:
    """Fail the RUNNING trials of a worker process known to be dead, as a stale heartbeat would.

    The store's stale-trial handler gives each one's slot back and re-queues its params
    (storage/optuna_store.py); another process that got there first wins. Returns the numbers failed here.
    """
    storage = study._storage  # Optuna's own fail_stale_trials works on the same private handle
    handler = storage.get_heartbeat_stale_trial_callback()  # type: ignore[attr-defined]
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.user_attrs.get(WORKER_PROCESS_ATTR) != process:
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        if handler is not None:
            handler(study, storage.get_trial(trial._trial_id))
    return failed


class ClaimWatch:
    """Decides, while the budget is fully claimed, whether this worker is done or must wait.

    The budget is done when finished trials fill it. Until then, some claims belong to trials
    still running (alive, or dead and soon failed by their stale heartbeat, then re-queued), so
    the worker waits to run what comes back. A claim that no trial records (a worker killed
    between its claim and its trial) is dropped once the count has not moved for a grace period.
    """

    def __init__(self, study: optuna.Study, budget: Budget) -> None:
        self.study, self.budget = study, budget
        interval, self.grace_seconds = heartbeat_timings()
        self.poll_seconds = float(min(interval, 5))
        self._seen: tuple[int, int, int] | None = None
        self._seen_since = 0.0

    def reset(self) -> None:
        self._seen = None

    def budget_done(self) -> bool:
        limit = self.budget.limit()
        trials = self.study.get_trials(deepcopy=False, states=(*FINISHED, optuna.trial.TrialState.RUNNING))
        finished = sum(t.state in FINISHED for t in trials)
        if limit is None or finished >= limit:
            return True
        claimed, running = self.budget.claimed(), len(trials) - finished
        seen = (claimed, finished, running)
        if seen != self._seen:
            self._seen, self._seen_since = seen, time.time()
        elif claimed > finished + running and time.time() - self._seen_since > self.grace_seconds:
            self.budget.reconcile(claimed, finished + running)
            self._seen = None
        return False



def trial_state(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.TrialState:
    """The trial's state as the store has it now (another process may have changed it)."""
    return study._storage.get_trial(trial._trial_id).state


def finished_elsewhere(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether this worker's trial was finished by another process (failed as stale after an outage)."""
    return trial_state(study, trial) != optuna.trial.TrialState.RUNNING
