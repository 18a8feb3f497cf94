"""The coordinator of one study's trials in this process: slots, runs, heartbeats, the failure streak."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna
import sqlalchemy

from search import notices
from search.engines.coordinator._recovery import (
    FAIL_REASON_ATTR,
    WORKER_PROCESS_ATTR,
    recover_dead_trials,
    requeue,
    store_of,
    worker_process,
)
from search.engines.coordinator._slots import Ended, TrialSlot
from search.engines.deadline import DeadlineReached
from search.engines.record import one_line
from search.errors import StorageError, WorkerError
from search.runtime import interrupts
from search.study.settings import FINISHED
from storage.budget import Budget
from storage.optuna_store import heartbeat_timings
from storage.reconnect import is_connection_error, outage_seconds

State = optuna.trial.TrialState
MAX_CONSECUTIVE_FAILURES = 3  # a worker whose trials keep failing has a bug or a broken environment


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
        with _store_outage(slot):
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
        reason = None if state != State.FAIL else _why_failed(error, interrupts.received())
        frozen = self._tell(slot, trial, state, value, reason)
        if frozen is None:
            return Ended(None, error)
        if interrupts.received() is not None:
            # A signal that came after the last epoch finds the trial finished: it keeps its slot
            # and is not run again (that would count its params twice).
            self._settle(slot, trial, frozen)
            return Ended(frozen, error, interrupted=True)
        self._settle(slot, trial, frozen, requeue_unfinished=isinstance(error, DeadlineReached))
        return Ended(frozen, error, out_of_time=isinstance(error, DeadlineReached))

    def _tell(
        self, slot: TrialSlot, trial: optuna.Trial, state: State, value: float | None, reason: str | None = None
    ) -> Any:
        try:
            with _store_outage(slot):
                if reason is not None:  # before the end: a finished trial is read-only
                    trial.set_user_attr(FAIL_REASON_ATTR, reason)
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


@contextmanager
def _store_outage(slot: TrialSlot) -> Iterator[None]:
    """A store away for the whole outage allowance stops the worker in one line, its slot left claimed.

    Nothing can be written now: the trial's stale heartbeat (or, before its trial exists, the
    reconcile of claims no trial holds) gives the slot back later, wherever the store is reached.
    """
    try:
        yield
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as lost:
        if not is_connection_error(lost):
            raise
        slot.keep()
        raise StorageError(
            f"the store stayed unreachable for over {outage_seconds()} s; this worker stops, and the next one "
            "to reach the store re-queues its trial"
        ) from lost


def failure_reason(error: BaseException | None) -> str:
    """Why a trial failed, in one line."""
    return one_line(error) if error is not None else "unknown reason"


def _why_failed(error: BaseException | None, signum: int | None) -> str:
    """The reason a failed trial stores: its error, or the signal that stopped it (it runs again)."""
    if error is None and signum is not None:
        return f"stopped by {signal.Signals(signum).name}; its params run again"
    if isinstance(error, DeadlineReached):
        return f"{error}; its params run again"
    return failure_reason(error)
