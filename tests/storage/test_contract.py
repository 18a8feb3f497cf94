"""The storage contract: what search workers and the dashboard rely on, checked on SQLite AND a real PostgreSQL.

Each contract test runs twice through ``store_url`` (tests/pg_fixtures.py): once on a SQLite file,
once on a fresh database of a throwaway PostgreSQL server. A backend that stores something
differently (float precision, NaN, JSON attrs, concurrent inserts, heartbeats) fails here first.
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import threading
import warnings
from typing import Any

import optuna
import pytest

from storage import StorageError, open_storage
from storage.budget import Budget
from storage.config import GRACE_PERIOD
from storage.engine import check_url, resolve_url
from storage.optuna_store import Store
from tests.pg_fixtures import free_port

TrialState = optuna.trial.TrialState
TRIALS_PER_WORKER = 10
JOIN_TIMEOUT_S = 60

# Contract tests drive trials with ask/tell (a worker's optimize loop would beat for them).
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used:UserWarning")


def add_trials(url: str, study_name: str, worker: int, barrier: Any) -> None:
    """Run in a spawned process, as a real search worker: own storage, own engine, same study."""
    warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used", UserWarning)
    storage = open_storage(url)
    study = optuna.load_study(study_name=study_name, storage=storage)
    barrier.wait(timeout=JOIN_TIMEOUT_S)  # both workers insert at the same time, not one after the other
    for i in range(TRIALS_PER_WORKER):
        trial = study.ask()
        trial.suggest_float("x", -1.0, 1.0)
        trial.report(float(i), 0)
        study.tell(trial, float(worker * 100 + i))


def test_urls_are_accepted_unchanged(store_url: str) -> None:
    """The store URL the fixtures hand out is what the CLI would pass on, for both backends."""
    assert check_url(store_url) == store_url
    assert resolve_url(store_url) == store_url


def test_study_is_created_and_found_again_by_name(store_url: str) -> None:
    """Workers join a study by name; a second create with the same name must not make a twin."""
    storage = open_storage(store_url)
    created = optuna.create_study(storage=storage, study_name="cnn-search", direction="maximize")
    created.set_user_attr("space", "cnn")

    loaded = optuna.load_study(study_name="cnn-search", storage=storage)
    assert loaded._study_id == created._study_id
    assert loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    assert loaded.user_attrs == {"space": "cnn"}
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["cnn-search"]
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(storage=storage, study_name="cnn-search")
    again = optuna.create_study(storage=storage, study_name="cnn-search", load_if_exists=True)
    assert again._study_id == created._study_id


def test_ask_tell_states_values_and_params_round_trip(store_url: str) -> None:
    """Finished, pruned and failed trials keep their state, exact float value and params."""
    storage = open_storage(store_url)
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")

    done = study.ask()
    params = {
        "lr": done.suggest_float("lr", 1e-5, 1e-1, log=True),
        "units": done.suggest_int("units", 16, 512, step=16),
        "optimizer": done.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"]),
    }
    study.tell(done, 0.912345678901234)
    pruned = study.ask()
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    running = study.ask()

    trials = optuna.load_study(study_name="s", storage=storage).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING]
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert trials[0].value == 0.912345678901234  # bit-exact: double precision on both backends
    assert trials[0].params == params
    assert trials[1].value is None and trials[2].value is None
    assert study.best_trial.number == 0
    assert running.number == 3


def test_intermediate_values_per_epoch_are_stored_in_order(store_url: str) -> None:
    """Pruners read the per-epoch curve back; every step must survive, NaN (a diverged loss) included."""
    storage = open_storage(store_url)
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    trial = study.ask()
    curve = [0.1, 0.35, 0.61, 0.7, 0.7123456789]
    for epoch, accuracy in enumerate(curve):
        trial.report(accuracy, epoch)
    trial.report(float("nan"), len(curve))
    with pytest.warns(UserWarning, match="already reported"):
        trial.report(0.99, 0)  # a step already reported is ignored, not overwritten

    frozen = storage.get_trial(trial._trial_id)
    steps = sorted(frozen.intermediate_values)
    assert steps == list(range(len(curve) + 1))
    assert [frozen.intermediate_values[step] for step in steps[:-1]] == curve
    assert math.isnan(frozen.intermediate_values[len(curve)])
    assert frozen.last_step == len(curve)


def test_user_attrs_with_a_nested_history_round_trip(store_url: str) -> None:
    """The per-epoch Keras history is kept as a nested user attr; it must come back equal, not stringified."""
    storage = open_storage(store_url)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    history = {"loss": [2.302585, 0.61, 0.4], "val_accuracy": [0.1, 0.78, 0.85], "lr": [1e-3, 1e-3, 5e-4]}
    attrs: dict[str, Any] = {
        "history": history,
        "epochs_run": 3,
        "model": "cnn",
        "note": "ünïcode ✓",
        "stopped_early": False,
        "best_epoch": None,
    }
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    study.tell(trial, 0.85)

    frozen = optuna.load_study(study_name="s", storage=open_storage(store_url)).trials[0]
    assert frozen.user_attrs == attrs
    assert frozen.user_attrs["history"]["val_accuracy"][-1] == 0.85


def test_a_second_independent_storage_sees_the_same_study(store_url: str) -> None:
    """Another process (a worker, the dashboard) opens its own storage on the URL and sees everything."""
    first = open_storage(store_url)
    study = optuna.create_study(storage=first, study_name="shared", direction="minimize")
    trial = study.ask()
    trial.report(0.5, 1)
    study.tell(trial, 0.25)

    second = open_storage(store_url)
    assert second is not first and second.engine is not first.engine
    seen = optuna.load_study(study_name="shared", storage=second)
    assert seen.direction == optuna.study.StudyDirection.MINIMIZE
    assert [(t.number, t.state, t.value, t.intermediate_values) for t in seen.trials] == [
        (0, TrialState.COMPLETE, 0.25, {1: 0.5})
    ]
    # And writes through the second storage are visible through the first.
    seen.tell(seen.ask(), 0.125)
    assert len(optuna.load_study(study_name="shared", storage=first).trials) == 2


def test_two_processes_add_trials_to_one_study(store_url: str) -> None:
    """Parallel workers are separate processes: no lost trial, no duplicate number, no lock error."""
    optuna.create_study(storage=open_storage(store_url), study_name="parallel")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=add_trials, args=(store_url, "parallel", worker, barrier)) for worker in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(JOIN_TIMEOUT_S)
    for process in workers:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in workers] == [0, 0]

    trials = optuna.load_study(study_name="parallel", storage=open_storage(store_url)).trials
    assert len(trials) == 2 * TRIALS_PER_WORKER
    assert sorted(t.number for t in trials) == list(range(2 * TRIALS_PER_WORKER))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.value for t in trials) == sorted(
        float(w * 100 + i) for w in (1, 2) for i in range(TRIALS_PER_WORKER)
    )


def test_a_live_trial_is_not_failed_and_its_heartbeats_do_not_pile_up(store_url: str) -> None:
    """A dead worker's trial is recovered through heartbeats; a live one (just beaten) must stay RUNNING."""
    from search.engines.coordinator import recover_dead_trials

    storage = open_storage(store_url)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    study_id = storage.get_study_id_from_name("s")
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    storage.record_heartbeat(trial_id)
    storage.record_heartbeat(trial_id)  # a second beat updates, it does not insert a duplicate
    assert storage.dead_trial_ids(study_id, GRACE_PERIOD) == []
    assert recover_dead_trials(study) == []
    assert storage.get_trial(trial_id).state == TrialState.RUNNING


def test_storage_survives_a_postgresql_restart(postgres_server: Any, postgres_url: str) -> None:
    """A long search outlives a database restart: pooled connections die, pool_pre_ping must replace them."""
    storage = open_storage(postgres_url)
    study = optuna.create_study(storage=storage, study_name="s")
    study.tell(study.ask(), 1.0)

    postgres_server.restart()

    trial = study.ask()  # the SAME storage object, opened before the restart
    trial.report(0.5, 0)
    study.tell(trial, 2.0)
    trials = optuna.load_study(study_name="s", storage=open_storage(postgres_url)).trials
    assert [(t.state, t.value) for t in trials] == [(TrialState.COMPLETE, 1.0), (TrialState.COMPLETE, 2.0)]
    assert trials[1].intermediate_values == {0: 0.5}


def test_the_store_delegates_every_storage_method_and_patches_nothing() -> None:
    """Each method Optuna's BaseStorage declares (and RDBStorage implements) is the store's own,
    forwarded to the backend with retries; Optuna's own classes keep their methods untouched."""
    declared = {name for name, _ in inspect.getmembers(optuna.storages.BaseStorage, inspect.isfunction)}
    declared -= {"check_trial_is_updatable", "get_trial_params"}  # BaseStorage's own, built on get_trial
    missing = sorted(name for name in declared if not name.startswith("_") and name not in Store.__dict__)
    assert missing == []
    for name, member in vars(optuna.storages.RDBStorage).items():
        if inspect.isfunction(member):
            assert member.__module__.startswith("optuna."), name  # nothing of ours was set onto Optuna's class


def test_a_worker_rides_out_a_database_that_is_down_for_a_few_seconds(postgres_server: Any, postgres_url: str) -> None:
    """Every call a worker makes through load_study's cached storage waits for the server to return."""
    storage = open_storage(postgres_url)
    optuna.create_study(storage=storage, study_name="s", direction="maximize").tell(
        optuna.load_study(study_name="s", storage=storage).ask(), 1.0
    )
    study = optuna.load_study(study_name="s", storage=storage)

    postgres_server.stop()
    back_up = threading.Timer(3.0, postgres_server.start)
    back_up.start()
    try:
        trials = study.trials  # _CachedStorage -> RDBStorage._get_trials, while the server is down
    finally:
        back_up.join()
    assert [t.value for t in trials] == [1.0]

    postgres_server.stop()
    back_up = threading.Timer(3.0, postgres_server.start)
    back_up.start()
    try:
        trial = study.ask()  # _create_new_trial
        trial.suggest_float("x", 0.0, 1.0)  # _set_trial_param
        study.tell(trial, 2.0)
    finally:
        back_up.join()
    assert study.best_trial.value == 2.0  # _get_best_trial_id

    budget = Budget(postgres_url, "s")
    budget.reset(n_trials=3, already_used=2)
    postgres_server.stop()
    back_up = threading.Timer(3.0, postgres_server.start)
    back_up.start()
    try:
        claimed = budget.claim()  # the project's own table retries the same way
    finally:
        back_up.join()
        budget.close()
    assert claimed


def test_unreachable_postgresql_is_a_one_line_storage_error() -> None:
    """Nothing listens on the port: the CLI must print one clear line, not a SQLAlchemy traceback."""
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StorageError, match="failed") as caught:
        open_storage(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "127.0.0.1" in message
