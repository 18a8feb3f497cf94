"""One owner of a trial's life, for both engines: claim, run, finish, re-queue, recover, give up.

As KerasTuner's ``Oracle`` owns what to try next, the ongoing trials and the retries while its
``Tuner`` trains, the ``Coordinator`` owns a trial's life while an engine trains it (the Optuna
worker in search/engines/optuna/worker.py, KerasTuner's Hyperband in search/engines/keras_tuner/):

- **Claim**: a slot of the study-wide budget (storage/budget.py) is held by a ``TrialSlot`` from
  the claim to the trial's end, and given back unless the trial finished (``keep``).
- **Run** (Optuna): ``study.ask()``, the trial's worker process and heartbeats recorded while it
  trains, ``study.tell()`` with its end.
- **Re-queue**: a trial cut short (a signal, the deadline) runs again with the same params.
- **Recover dead trials**: one function, ``recover_dead_trials``, fails the RUNNING trials of a
  worker that is gone (its heartbeat stale, or its parent saw it die), gives their slots back and
  re-queues their params, at most ``MAX_RETRY`` times.
- **Failure streak**: ``MAX_CONSECUTIVE_FAILURES`` failed trials in a row stop the worker.
- **Is the study done**: ``study_done`` only asks; ``reconcile_orphaned_claims`` drops claims that
  no trial holds (a worker killed between its claim and its trial) once they have not moved for
  a grace period. A worker whose budget is fully claimed but not done waits, so a run ends exact.
"""

from search.engines.coordinator._coordinator import MAX_CONSECUTIVE_FAILURES, Coordinator, failure_reason
from search.engines.coordinator._recovery import (
    FAIL_REASON_ATTR,
    MAX_RETRY,
    REQUEUED_FROM,
    WORKER_PROCESS_ATTR,
    recover_dead_trials,
    requeue,
    store_of,
    worker_process,
)
from search.engines.coordinator._slots import Ended, TrialSlot

__all__ = [
    "FAIL_REASON_ATTR",
    "MAX_CONSECUTIVE_FAILURES",
    "MAX_RETRY",
    "REQUEUED_FROM",
    "WORKER_PROCESS_ATTR",
    "Coordinator",
    "Ended",
    "TrialSlot",
    "failure_reason",
    "recover_dead_trials",
    "requeue",
    "store_of",
    "worker_process",
]
