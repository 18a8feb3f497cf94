"""The trial coordinator on a real SQLite store: claims, ends, re-queues, recovery, retry cap, streak, done."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

from search.engines.coordinator import (
    FAIL_REASON_ATTR,
    MAX_CONSECUTIVE_FAILURES,
    MAX_RETRY,
    WORKER_PROCESS_ATTR,
    Coordinator,
    recover_dead_trials,
)
from search.engines.deadline import DeadlineReached
from search.errors import WorkerError
from search.runtime import interrupts
from storage import open_storage
from storage.budget import Budget

State = optuna.trial.TrialState


@pytest.fixture
def notes(caplog: pytest.LogCaptureFixture):
    """The warnings the coordinator gives (search/notices.py), whatever handler the UI installed."""
    logger = logging.getLogger("fmnist_search")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="fmnist_search")
    yield lambda: [record.getMessage() for record in {id(r): r for r in caplog.records}.values()]
    logger.removeHandler(caplog.handler)


@pytest.fixture
def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FMNIST_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("FMNIST_GRACE_PERIOD", "2")
    url = f"sqlite:///{tmp_path / 'c.db'}"

    def coordinator(n_trials: int | None = 3) -> Coordinator:
        study = optuna.create_study(
            storage=open_storage(url), study_name="c", direction="maximize", load_if_exists=True
        )
        budget = Budget(url, "c")
        budget.reset(n_trials, 0)
        return Coordinator(study, budget)

    yield coordinator
    interrupts.reset()


def _x(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def _run(coordinator: Coordinator, train) -> object:
    slot = coordinator.next_slot(deadline=None)
    assert slot is not None
    with slot:
        return coordinator.run_trial(slot, train)


def _raise(error: BaseException):
    def train(trial: optuna.Trial) -> float:
        _x(trial)
        raise error

    return train


def test_a_finished_trial_keeps_its_slot_and_a_failed_one_gives_it_back(make) -> None:
    coordinator = make(3)
    assert _run(coordinator, _x).succeeded
    pruned = _run(coordinator, _raise(optuna.TrialPruned()))
    assert pruned.succeeded and pruned.trial.state == State.PRUNED
    failed = _run(coordinator, _raise(ValueError("bad units")))
    assert not failed.succeeded and isinstance(failed.error, ValueError) and failed.trial.state == State.FAIL
    assert coordinator.budget.state() == (3, 2)
    assert not coordinator.study.get_trials(states=(State.WAITING,))  # a failure is not re-queued


def test_the_study_is_done_when_finished_trials_fill_the_budget_and_asking_writes_nothing(make) -> None:
    coordinator = make(2)
    _run(coordinator, _x)
    assert not coordinator.study_done()
    _run(coordinator, _x)
    before = coordinator.budget.state()
    assert coordinator.study_done() and coordinator.budget.state() == before == (2, 2)
    assert coordinator.next_slot(deadline=None) is None
    assert not make(None).study_done()  # no limit: never done


def test_a_trial_cut_short_by_the_deadline_or_a_signal_is_requeued_with_its_params(make) -> None:
    coordinator = make(3)

    def waiting() -> list[tuple[int, dict]]:
        queued = coordinator.study.get_trials(states=(State.WAITING,))
        return [(w.user_attrs["requeued_from"], w.system_attrs["fixed_params"]) for w in queued]

    cut = _run(coordinator, _raise(DeadlineReached("time ran out")))
    assert cut.out_of_time and cut.trial.state == State.FAIL
    assert waiting() == [(cut.trial.number, cut.trial.params)]
    stopped = _run(coordinator, _raise(interrupts.Interrupted()))  # runs the re-queued params
    assert stopped.interrupted and stopped.trial.state == State.FAIL and stopped.trial.params == cut.trial.params
    assert waiting() == [(stopped.trial.number, cut.trial.params)]
    assert cut.trial.user_attrs[FAIL_REASON_ATTR] == "time ran out; its params run again"
    assert stopped.trial.user_attrs[FAIL_REASON_ATTR] == "stopped by SIGINT; its params run again"
    assert all(FAIL_REASON_ATTR not in t.user_attrs for t in coordinator.study.get_trials(states=(State.WAITING,)))
    assert coordinator.budget.state() == (3, 0)


def test_a_signal_after_the_last_epoch_keeps_the_finished_trial(make) -> None:
    coordinator = make(3)
    slot = coordinator.next_slot(deadline=None)
    interrupts.note(KeyboardInterrupt())  # remembered only; the trial runs to its end
    with slot:
        ended = coordinator.run_trial(slot, _x)
    assert ended.interrupted and ended.succeeded
    assert not coordinator.study.get_trials(states=(State.WAITING,)) and coordinator.budget.state() == (3, 1)


def test_a_trial_beats_while_it_trains(make) -> None:
    coordinator = make(3)

    def train(trial: optuna.Trial) -> float:
        with coordinator.store.engine.connect() as connection:
            beats = connection.execute(sa.text("SELECT count(*) FROM trial_heartbeats")).scalar_one()
        return float(beats)

    assert _run(coordinator, train).trial.value == 1.0


def _lose_worker(coordinator: Coordinator, process: str) -> optuna.trial.FrozenTrial:
    """A claimed trial whose worker ``process`` died; returns the trial as it is failed."""
    assert coordinator.budget.take()
    trial = coordinator.study.ask()
    _x(trial)
    trial.set_user_attr(WORKER_PROCESS_ATTR, process)
    [number] = recover_dead_trials(coordinator.study, process)
    return coordinator.study.trials[number]


def test_a_dead_worker_s_trial_is_failed_its_slot_freed_and_retried_up_to_the_cap(make) -> None:
    coordinator = make(3)
    first = _lose_worker(coordinator, "host:1")
    assert first.state == State.FAIL and coordinator.budget.state() == (3, 0)
    for lost in range(2, MAX_RETRY + 2):
        [again] = coordinator.study.get_trials(states=(State.WAITING,))
        assert again.system_attrs["failed_trial"] == first.number and again.params == first.params
        _lose_worker(coordinator, f"host:{lost}")  # ask() takes the waiting copy
    assert not coordinator.study.get_trials(states=(State.WAITING,))  # over the cap: counted failed
    assert coordinator.budget.state() == (3, 0)


def test_the_retry_cap_says_so_in_one_warning(make, notes) -> None:
    coordinator = make(3)
    for lost in range(1, MAX_RETRY + 2):
        _lose_worker(coordinator, f"host:{lost}")
    [line] = [message for message in notes() if "lost its worker" in message]
    assert f"lost its worker {MAX_RETRY + 1} times" in line


def test_only_the_dead_process_s_trials_are_recovered(make) -> None:
    coordinator = make(3)
    assert coordinator.budget.take()
    alive = coordinator.study.ask()
    alive.set_user_attr(WORKER_PROCESS_ATTR, "host:alive")
    assert recover_dead_trials(coordinator.study, "host:dead") == []
    assert recover_dead_trials(coordinator.study) == []  # young, no heartbeat yet: maybe alive
    assert coordinator.study.trials[alive.number].state == State.RUNNING


def test_claims_that_no_trial_holds_are_dropped_after_a_grace_period(make, monkeypatch) -> None:
    coordinator = make(3)
    for _ in range(3):
        assert coordinator.budget.take()  # three workers killed between their claim and their trial
    now = [1000.0]
    monkeypatch.setattr("search.engines.coordinator._coordinator.time.time", lambda: now[0])
    assert not coordinator.reconcile_orphaned_claims()  # first look
    now[0] += coordinator.grace_seconds / 2
    assert not coordinator.reconcile_orphaned_claims() and coordinator.budget.state() == (3, 3)
    now[0] += coordinator.grace_seconds
    assert coordinator.reconcile_orphaned_claims() and coordinator.budget.state() == (3, 0)


def test_claims_that_move_are_never_dropped(make, monkeypatch) -> None:
    coordinator = make(3)
    assert coordinator.budget.take()
    now = [1000.0]
    monkeypatch.setattr("search.engines.coordinator._coordinator.time.time", lambda: now[0])
    assert not coordinator.reconcile_orphaned_claims()
    now[0] += coordinator.grace_seconds * 2
    assert coordinator.budget.take()  # a new claim since the last look
    assert not coordinator.reconcile_orphaned_claims() and coordinator.budget.state() == (3, 2)


def test_failures_in_a_row_stop_the_worker_and_a_success_resets_the_streak(make, notes) -> None:
    coordinator = make(3)
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        coordinator.count_failure("trial failed: boom", "boom")
    coordinator.count_success()
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        coordinator.count_failure("trial failed: boom", "boom")
    with pytest.raises(WorkerError, match=f"{MAX_CONSECUTIVE_FAILURES} trials in a row failed; the last one: boom"):
        coordinator.count_failure("trial failed: boom", "boom")
    assert sum("trial failed: boom" in message for message in notes()) == 2 * MAX_CONSECUTIVE_FAILURES - 1


def test_a_slot_is_given_back_unless_kept_and_only_once(make) -> None:
    coordinator = make(2)
    with coordinator.next_slot(deadline=None) as kept:
        kept.keep()  # the trial finished
    with coordinator.next_slot(deadline=None) as failed:
        failed.give_back()  # given back at once, and only once
    assert coordinator.budget.state() == (2, 1)
    assert coordinator.budget.take() is True and coordinator.next_slot(deadline=time.time() + 0.1) is None


def test_without_a_limit_a_slot_counts_nothing(make) -> None:
    coordinator = make(None)
    with coordinator.next_slot(deadline=None):
        pass
    assert coordinator.budget.state() == (None, 0)
