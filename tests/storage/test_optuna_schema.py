"""The one place the store reads Optuna's tables directly (``dead_trial_ids``), against the installed Optuna.

If an Optuna release renames its tables, its state values or its heartbeat column, these fail
before any worker misjudges a trial.
"""

from __future__ import annotations

import time

import optuna
import pytest
from sqlalchemy.exc import OperationalError

from storage import open_storage
from storage.optuna_store import Store

TrialState = optuna.trial.TrialState


def _running_trial(url: str) -> tuple[Store, int, int]:
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    study_id = storage.get_study_id_from_name("s")
    return storage, study_id, storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def test_a_trial_that_never_beat_is_dead_once_it_started_over_a_grace_period_ago(store_url: str) -> None:
    storage, study_id, trial_id = _running_trial(store_url)
    assert storage.dead_trial_ids(study_id, grace_seconds=2) == []  # young: maybe alive
    time.sleep(2.5)
    assert storage.dead_trial_ids(study_id, grace_seconds=2) == [trial_id]


def test_a_beating_trial_is_alive_until_its_heartbeat_is_older_than_the_grace(store_url: str) -> None:
    storage, study_id, trial_id = _running_trial(store_url)
    time.sleep(2.5)  # past the grace by its start, but it beats
    storage.record_heartbeat(trial_id)
    assert storage.dead_trial_ids(study_id, grace_seconds=2) == []
    time.sleep(3.2)  # SQLite's clock counts whole seconds
    assert storage.dead_trial_ids(study_id, grace_seconds=2) == [trial_id]


def test_finished_trials_and_other_studies_are_never_dead(store_url: str) -> None:
    storage, study_id, trial_id = _running_trial(store_url)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    other = optuna.create_study(storage=storage, study_name="other")
    other.ask()
    time.sleep(1.2)
    assert storage.dead_trial_ids(study_id, grace_seconds=0.5) == []


def test_a_lost_connection_is_retried_and_other_errors_are_not(tmp_path, monkeypatch) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    optuna.create_study(storage=storage, study_name="s")
    calls = []
    original = storage._backend.get_study_id_from_name

    def flaky(name: str) -> int:
        calls.append(name)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        return original(name)

    monkeypatch.setattr(storage._backend, "get_study_id_from_name", flaky)
    assert storage.get_study_id_from_name("s") == original("s") and len(calls) == 2
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("missing")
