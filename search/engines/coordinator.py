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

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy

from search import notices
from search.engines.deadline import DeadlineReached
from search.engines.record import one_line
from search.errors import StorageError, WorkerError
from search.runtime import interrupts
from search.study.settings import FINISHED
from storage.budget import Budget
from storage.optuna_store import Store, heartbeat_timings
from storage.reconnect import MAX_DELAY_SECONDS, is_connection_error, outage_seconds, seconds_since_outage

State = optuna.trial.TrialState
MAX_RETRY = 2  # runs of one trial's params whose worker died, before they count as failed
MAX_CONSECUTIVE_FAILURES = 3  # a worker whose trials keep failing has a bug or a broken environment
WORKER_PROCESS_ATTR = "worker_process"
REQUEUED_FROM = "requeued_from"
KEPT_ON_REQUEUE = ("warm_start",)  # a known-good first trial stays one (search/study/pruner.py)


def worker_process(pid: int | None = None) -> str:
    """host:pid of a worker process, as its trials record it."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def store_of(study: optuna.Study) -> Store:
    """The store a study was opened on; Optuna keeps it private, and never wraps ours (storage/optuna_store.py)."""
    return study._storage  # type: ignore[return-value]


class TrialSlot:
    """One claimed slot, held from the claim to the trial's end; given back on exit unless kept."""

    def __init__(self, budget: Budget | None) -> None:
        self._budget = budget  # None: the study has no trial limit, there is nothing to give back
        self._kept = False

    def keep(self) -> None:
        """The trial finished (complete or pruned), or another process took over its slot: keep it used."""
        self._kept = True

    def give_back(self) -> None:
        """Release the slot now, once; a later exit does nothing more."""
        if not self._kept and self._budget is not None:
            self._budget.release()
        self._kept = True

    def __enter__(self) -> TrialSlot:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.give_back()


@dataclass(frozen=True)
class Ended:
    """How a trial run here ended: the trial as stored (None: another process took it over) and why it failed."""

    trial: optuna.trial.FrozenTrial | None
    error: BaseException | None = None
    interrupted: bool = False  # by a signal; unless it finished, its params were re-queued
    out_of_time: bool = False  # by the run's deadline; its params were re-queued

    @property
    def succeeded(self) -> bool:
        return self.trial is not None and self.trial.state in FINISHED


def recover_dead_trials(study: optuna.Study, process: str | None = None) -> list[int]:
    """Fail the RUNNING trials whose worker is gone, give their slots back and re-queue their params.

    Without ``process``, a trial is gone when its heartbeat is stale (storage/optuna_store.py),
    except just after an outage of the store, when every heartbeat is old, its worker alive or
    not: live workers beat again within an interval (plus a retry's delay) of the store's return.
    With ``process`` (host:pid), that worker is known dead (its parent saw it exit): its trials
    go at once. Another process failing a trial first wins; returns the numbers failed here.
    """
    store = store_of(study)
    study_id = store.get_study_id_from_name(study.study_name)
    if process is not None:
        running = study.get_trials(deepcopy=False, states=(State.RUNNING,))
        numbers = [t.number for t in running if t.user_attrs.get(WORKER_PROCESS_ATTR) == process]
        trial_ids = [store.get_trial_id_from_study_id_trial_number(study_id, n) for n in numbers]
    else:
        interval, grace = heartbeat_timings()
        trial_ids = [] if seconds_since_outage() < interval + MAX_DELAY_SECONDS + 1 else store.dead_trial_ids(study_id, grace)
    failed = []
    for trial_id in trial_ids:
        try:
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
            user_attrs=lost.user_attrs, system_attrs=system_attrs,
        )
    )  # fmt: skip


def requeue(study: optuna.Study, trial: optuna.Trial) -> None:
    """An unfinished trial (interrupted, out of time): queue its params to run again."""
    kept = {key: trial.user_attrs[key] for key in KEPT_ON_REQUEUE if key in trial.user_attrs}
    study.enqueue_trial(trial.params, user_attrs={**kept, REQUEUED_FROM: trial.number})


class Coordinator:
    """The life of one study's trials in this process: slots, runs, heartbeats, the failure streak."""

    def __init__(self, study: optuna.Study, budget: Budget) -> None:
        self.study, self.budget, self.store = study, budget, store_of(study)
        self.study_id = self.store.get_study_id_from_name(study.study_name)
        self.heartbeat_seconds, self.grace_seconds = heartbeat_timings()
        self.poll_seconds = float(min(self.heartbeat_seconds, 5))
        self.failures = 0
        self._claims_seen: tuple[int, int, int] | None = None
        self._claims_seen_since = 0.0

    # ------------------------------------------------------------------ slots and the study's end
    def next_slot(self, deadline: float | None) -> TrialSlot | None:
        """A held slot for the next trial; None once the study is done or the deadline has passed.

        Dead workers' trials are recovered first (their slots come back, their params wait). While
        the budget is fully claimed but not done, claims belong to trials still running (alive,
        or dead and soon recovered), so this waits to run what comes back.
        """
        while deadline is None or time.time() < deadline:
            interrupts.check()
            recover_dead_trials(self.study)
            taken = self.budget.take()
            if taken is not False:
                self._claims_seen = None
                return TrialSlot(self.budget if taken else None)  # None: no limit, nothing counted
            if self.study_done():
                return None
            self.reconcile_orphaned_claims()
            interrupts.sleep(self.poll_seconds)
        return None

    def study_done(self) -> bool:
        """Whether finished trials fill the study's budget (a study without one is never done). Writes nothing."""
        limit = self.budget.limit()
        return limit is not None and self._counts()[0] >= limit

    def reconcile_orphaned_claims(self) -> bool:
        """Drop claims that no trial holds, once claims and trials have not moved for a grace period.

        A worker killed between its claim and its trial leaves such a claim. Compare-and-set
        (storage/budget.py), so a claim made since this looked is never dropped. True if dropped.
        """
        finished, running = self._counts()
        claimed = self.budget.claimed()
        seen = (claimed, finished, running)
        if seen != self._claims_seen:
            self._claims_seen, self._claims_seen_since = seen, time.time()
            return False
        if claimed <= finished + running or time.time() - self._claims_seen_since <= self.grace_seconds:
            return False
        self._claims_seen = None
        return self.budget.reconcile(claimed, finished + running)

    def _counts(self) -> tuple[int, int]:
        trials = self.study.get_trials(deepcopy=False, states=(*FINISHED, State.RUNNING))
        finished = sum(t.state in FINISHED for t in trials)
        return finished, len(trials) - finished

    # ------------------------------------------------------------------ one trial (Optuna)
    def run_trial(self, slot: TrialSlot, train: Callable[[optuna.Trial], float]) -> Ended:
        """Ask the study for a trial, train it while it beats, tell its end; the slot is kept if it finished.

        A signal leaves it failed and re-queued, unless it had finished; the deadline likewise. A
        store that stays away for the whole outage allowance stops the worker in one line.
        """
        trial = self.study.ask()
        # Which process runs it: the parent of a worker that dies recovers its trial at once.
        trial.set_user_attr(WORKER_PROCESS_ATTR, worker_process())
        state, value, error = State.FAIL, None, None
        try:
            with self.heartbeat(trial.number):
                value = train(trial)
            state = State.COMPLETE
        except optuna.TrialPruned:
            state = State.PRUNED
        except KeyboardInterrupt as interrupted:  # Ctrl-C without the runner's handler (a direct call)
            interrupts.note(interrupted)
        except Exception as failure:  # noqa: BLE001 - recorded as the trial's failure, shown by the caller
            error = failure
        frozen = self._tell(slot, trial, state, value)
        if frozen is None:
            return Ended(None, error)
        if interrupts.received() is not None:
            # A signal that came after the last epoch finds the trial finished: it keeps its slot
            # and is not run again (that would count its params twice).
            self._settle(slot, trial, frozen)
            return Ended(frozen, error, interrupted=True)
        self._settle(slot, trial, frozen, requeue_unfinished=isinstance(error, DeadlineReached))
        return Ended(frozen, error, out_of_time=isinstance(error, DeadlineReached))

    def _tell(self, slot: TrialSlot, trial: optuna.Trial, state: State, value: float | None) -> Any:
        try:
            if state == State.COMPLETE:
                return self.study.tell(trial, value)
            return self.study.tell(trial, state=state)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            if self.store.get_trial(self._trial_id(trial.number)).state == State.RUNNING:
                raise
            # Another process judged it dead (after an outage), gave its slot back and re-queued it.
            slot.keep()
            notices.warn(f"trial {trial.number} was failed as stale by another worker while it ran here; it runs again")
            return None
        except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as lost:
            if not is_connection_error(lost):
                raise
            slot.keep()  # nothing can be written now; the trial's stale heartbeat gives the slot back later
            raise StorageError(
                f"the store stayed unreachable for over {outage_seconds()} s; this worker stops, and the next one "
                "to reach the store re-queues its trial"
            ) from lost

    def _settle(self, slot: TrialSlot, trial: optuna.Trial, frozen: Any, requeue_unfinished: bool = True) -> None:
        """A finished trial keeps its slot; an unfinished one gives it back, and runs again if it was cut short."""
        if frozen.state in FINISHED:
            slot.keep()
        elif requeue_unfinished:
            requeue(self.study, trial)

    def _trial_id(self, number: int) -> int:
        return self.store.get_trial_id_from_study_id_trial_number(self.study_id, number)

    @contextmanager
    def heartbeat(self, trial_number: int) -> Iterator[None]:
        """The trial beats once now, then every heartbeat interval from a thread of its own until the block ends."""
        trial_id = self._trial_id(trial_number)
        stop = threading.Event()
        self.store.record_heartbeat(trial_id)

        def beat() -> None:
            while not stop.wait(self.heartbeat_seconds):
                self.store.record_heartbeat(trial_id)

        thread = threading.Thread(target=beat, name=f"heartbeat-{trial_number}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    # ------------------------------------------------------------------ the failure streak
    def count_success(self) -> None:
        self.failures = 0

    def count_failure(self, message: str, reason: str) -> None:
        """Say that a trial failed (``message``); stop the worker once ``MAX_CONSECUTIVE_FAILURES`` failed in a row."""
        self.failures += 1
        notices.warn(message)
        if self.failures >= MAX_CONSECUTIVE_FAILURES:
            raise WorkerError(f"{self.failures} trials in a row failed; the last one: {reason}")


def failure_reason(error: BaseException | None) -> str:
    """Why a trial failed, in one line."""
    return one_line(error) if error is not None else "unknown reason"
