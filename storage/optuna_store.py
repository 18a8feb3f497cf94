"""Optuna's RDB storage on the project's store: heartbeats, stale-trial retry, reconnection.

- Heartbeats: a worker that has not beaten for ``grace_period`` seconds is dead; its RUNNING
  trial is marked FAILED, its budget slot given back, and the trial re-queued with the same
  params (at most ``MAX_RETRY`` times).
- Reconnection: pooled connections are pre-pinged, and a call that fails because the database
  went away (a PostgreSQL restart, a network blip) is retried with exponential backoff.
"""

from __future__ import annotations

import datetime
import os
import sys
import warnings

import optuna

from storage.budget import Budget
from storage.engine import StorageError, install_sqlite_pragmas, redact, resolve_url, storage_errors
from storage.reconnect import MAX_DELAY_SECONDS, is_connection_error, retry_on_disconnect, seconds_since_outage
from storage.schema import require_studies

HEARTBEAT_INTERVAL = 20  # seconds; FMNIST_HEARTBEAT_INTERVAL overrides
GRACE_PERIOD = 90  # seconds; FMNIST_GRACE_PERIOD overrides
MAX_RETRY = 2


class ResilientRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage whose calls survive the database going away for a while."""


# Every storage call a worker makes, including the private ones that Optuna's _CachedStorage
# (the wrapper optuna.load_study/create_study put around an RDBStorage) calls directly.
# Writes among them are idempotent (same value, same step) or, like create_new_trial, fail
# before their commit when the connection is gone.
for _name in (
    "create_new_study", "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "set_study_user_attr", "set_study_system_attr",
    "get_all_studies", "create_new_trial", "set_trial_param", "get_trial_id_from_study_id_trial_number",
    "get_trial_number_from_id", "get_trial_param", "set_trial_state_values", "set_trial_intermediate_value",
    "set_trial_user_attr", "set_trial_system_attr", "get_trial", "get_all_trials", "get_n_trials",
    "get_best_trial", "record_heartbeat", "_get_stale_trial_ids",
    "_create_new_trial", "_set_trial_param", "_get_trials", "_get_best_trial_id",
    "get_trial_user_attrs", "get_trial_system_attrs",
):  # fmt: skip
    setattr(ResilientRDBStorage, _name, retry_on_disconnect(getattr(optuna.storages.RDBStorage, _name)))

_retried_heartbeat = ResilientRDBStorage.record_heartbeat


def _stale_trial_ids(self: ResilientRDBStorage, study_id: int) -> list[int]:
    """Trials of dead workers, except just after an outage: then every heartbeat is old, its worker alive or not.

    Live workers beat again within a heartbeat interval (plus a retry's delay) of the store's
    return; a dead worker's trial is still stale then and is failed on a later call.
    """
    dead = _dead_trial_ids(self, study_id)
    interval = self.heartbeat_interval or HEARTBEAT_INTERVAL
    return [] if seconds_since_outage() < interval + MAX_DELAY_SECONDS + 1 else dead


@retry_on_disconnect
def _dead_trial_ids(self: ResilientRDBStorage, study_id: int) -> list[int]:
    """RUNNING trials whose worker is gone, in one query.

    Optuna's own test: a heartbeat older than the grace period, by the store's clock (which wrote
    it). Added: a trial that never beat and started over a grace period ago, by the workers' clock
    (which wrote its start); a worker killed between creating its trial and its first heartbeat
    leaves such a trial, which Optuna never judges stale.
    """
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func
    from sqlalchemy.orm import selectinload

    grace = datetime.timedelta(seconds=self.grace_period or GRACE_PERIOD)
    with _create_scoped_session(self.scoped_session, True) as session:
        store_now = session.execute(func.now()).scalar().replace(tzinfo=None)  # naive, as Optuna compares them
        running = (
            session.query(models.TrialModel)
            .options(selectinload(models.TrialModel.heartbeats))
            .filter(models.TrialModel.state == optuna.trial.TrialState.RUNNING, models.TrialModel.study_id == study_id)
            .all()
        )
        return [
            trial.trial_id
            for trial in running
            if (store_now - trial.heartbeats[0].heartbeat > grace if trial.heartbeats
                else trial.datetime_start is not None and datetime.datetime.now() - trial.datetime_start > grace)
        ]  # fmt: skip


def _record_heartbeat(self: ResilientRDBStorage, trial_id: int) -> None:
    """A heartbeat that could not be written after the whole outage allowance is skipped, not raised:
    raised, it would end Optuna's heartbeat thread with a traceback; skipped, the trial's own next
    store call fails in one line, and its heartbeat goes stale so another worker re-queues it."""
    try:
        _retried_heartbeat(self, trial_id)
    except Exception as error:  # the outage was reported once already (storage/reconnect.py)
        if not is_connection_error(error):
            raise


_stale_trial_ids.__wrapped__ = _dead_trial_ids  # type: ignore[attr-defined]  # retried inside
_record_heartbeat.__wrapped__ = _retried_heartbeat  # type: ignore[attr-defined]
ResilientRDBStorage._get_stale_trial_ids = _stale_trial_ids  # type: ignore[method-assign]
ResilientRDBStorage.record_heartbeat = _record_heartbeat  # type: ignore[method-assign]


class _StaleTrialHandler:
    """Runs in whichever worker notices a dead worker's trial: give its slot back, then re-queue it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        budget = Budget(self.url, study.study_name)
        try:
            budget.release()
        finally:
            budget.close()
        runs = len(trial.system_attrs.get("retry_history", [])) + 1  # this one included
        if runs > MAX_RETRY:
            first = trial.system_attrs.get("failed_trial", trial.number)
            print(
                f"warning: trial {trial.number} (params of trial {first}) lost its worker {runs} times; "
                "counted failed, its slot freed for another trial",
                file=sys.stderr,
                flush=True,
            )
        self.retry(study, trial)


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the trials of workers that stopped beating (slot back, params re-queued by the handler above).

    Optuna does this only inside ``study.optimize``; a worker waiting for claims, or a study
    being started again, must do it itself.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def heartbeat_timings() -> tuple[int, int]:
    """(interval, grace period) in seconds, from the environment or the defaults."""
    timings = []
    for name, default in (("FMNIST_HEARTBEAT_INTERVAL", HEARTBEAT_INTERVAL), ("FMNIST_GRACE_PERIOD", GRACE_PERIOD)):
        text = os.environ.get(name, str(default))
        if not text.isdigit() or int(text) < 1:
            raise StorageError(f"{name} must be a whole number of seconds (at least 1), but got {name}={text!r}")
        timings.append(int(text))
    interval, grace = timings
    if grace <= interval:
        raise StorageError(f"FMNIST_GRACE_PERIOD ({grace}) must be longer than FMNIST_HEARTBEAT_INTERVAL ({interval})")
    return interval, grace


def open_storage(url: str | None = None, must_exist: bool = False) -> optuna.storages.RDBStorage:
    """Open (creating tables if needed) the Optuna store at ``url``, default the SQLite file.

    ``must_exist`` (commands that only read): the store must be there already, tables and all;
    nothing is created. Raises StorageError with one line when the URL is invalid, the database
    unreachable or, with ``must_exist``, not a store.
    """
    interval, grace = heartbeat_timings()
    url = resolve_url(url, must_exist)
    if must_exist:
        require_studies(url)
    install_sqlite_pragmas()
    with storage_errors(url), warnings.catch_warnings():
        # Heartbeats are marked experimental since Optuna 2.8; the warning says nothing to a user.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return ResilientRDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=_StaleTrialHandler(url),
            )
        except ImportError as error:
            raise StorageError(f"storage {redact(url)} needs a database driver that is not installed") from error
