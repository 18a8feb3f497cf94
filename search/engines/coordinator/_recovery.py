"""Recovering the trials of workers that are gone, and re-queueing trials cut short: one path for each."""

from __future__ import annotations

import os
import socket

import optuna

from search import notices
from storage.budget import Budget
from storage.optuna_store import Store, heartbeat_timings
from storage.reconnect import MAX_DELAY_SECONDS, seconds_since_outage

State = optuna.trial.TrialState
MAX_RETRY = 2  # runs of one trial's params whose worker died, before they count as failed
WORKER_PROCESS_ATTR = "worker_process"
REQUEUED_FROM = "requeued_from"
FAIL_REASON_ATTR = "fail_reason"  # one line: why a failed trial failed (its error, a signal, its worker's end)
KEPT_ON_REQUEUE = ("warm_start",)  # a known-good first trial stays one (search/study/pruner.py)


def worker_process(pid: int | None = None) -> str:
    """host:pid of a worker process, as its trials record it."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def store_of(study: optuna.Study) -> Store:
    """The store a study was opened on; Optuna keeps it private, and never wraps ours (storage/optuna_store.py)."""
    storage = study._storage
    if not isinstance(storage, Store):
        raise TypeError(
            f"study {study.study_name!r} was opened on a {type(storage).__name__}, not storage.open_storage()"
        )
    return storage


def recover_dead_trials(study: optuna.Study, process: str | None = None, how: str | None = None) -> list[int]:
    """Fail the RUNNING trials whose worker is gone, give their slots back and re-queue their params.

    Without ``process``, a trial is gone when its heartbeat is stale (storage/optuna_store.py),
    except just after an outage of the store, when every heartbeat is old, its worker alive or
    not: live workers beat again within an interval (plus a retry's delay) of the store's return.
    With ``process`` (host:pid), that worker is known dead (its parent saw it exit): its trials
    go at once, and ``how`` says how it ended ("was killed by SIGKILL"), in the failed trial's
    stored reason. Another process failing a trial first wins; returns the numbers failed here.
    """
    store = store_of(study)
    study_id = store.get_study_id_from_name(study.study_name)
    if process is not None:
        running = study.get_trials(deepcopy=False, states=(State.RUNNING,))
        numbers = [t.number for t in running if t.user_attrs.get(WORKER_PROCESS_ATTR) == process]
        trial_ids = [store.get_trial_id_from_study_id_trial_number(study_id, n) for n in numbers]
        reason = f"its worker process ({process}) {how or 'died'}"
    else:
        interval, grace = heartbeat_timings()
        trial_ids = (
            [] if seconds_since_outage() < interval + MAX_DELAY_SECONDS + 1 else store.dead_trial_ids(study_id, grace)
        )
        reason = f"its worker sent no heartbeat for over {grace} s (killed, or cut off from the store)"
    failed = []
    for trial_id in trial_ids:
        try:
            store.set_trial_user_attr(trial_id, FAIL_REASON_ATTR, reason)
            if not store.set_trial_state_values(trial_id, state=State.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        Budget(store.url, study.study_name).release()
        lost = store.get_trial(trial_id)
        _retry_lost(study, lost)
        failed.append(lost.number)
    return failed


def _retry_lost(study: optuna.Study, lost: optuna.trial.FrozenTrial) -> None:
    """Queue a dead worker's trial again with the same params, unless its params lost a worker too often.

    The copy records the first trial of those params (``failed_trial``) and every lost run
    (``retry_history``), the attributes Optuna's ``RetryHeartbeatStaleTrialCallback`` writes.
    """
    history = [*lost.system_attrs.get("retry_history", []), lost.number]
    if len(history) > MAX_RETRY:
        first = lost.system_attrs.get("failed_trial", lost.number)
        notices.warn(f"trial {lost.number} (params of trial {first}) lost its worker {len(history)} times; "
                     "counted failed, its slot freed for another trial")  # fmt: skip
        return
    system_attrs = {"failed_trial": lost.number, **lost.system_attrs, "retry_history": history}
    study.add_trial(
        optuna.trial.create_trial(
            state=State.WAITING, params=lost.params, distributions=lost.distributions,
            user_attrs={k: v for k, v in lost.user_attrs.items() if k != FAIL_REASON_ATTR}, system_attrs=system_attrs,
        )
    )  # fmt: skip


def requeue(study: optuna.Study, trial: optuna.Trial) -> None:
    """An unfinished trial (interrupted, out of time): queue its params to run again."""
    kept = {key: trial.user_attrs[key] for key in KEPT_ON_REQUEUE if key in trial.user_attrs}
    study.enqueue_trial(trial.params, user_attrs={**kept, REQUEUED_FROM: trial.number})
