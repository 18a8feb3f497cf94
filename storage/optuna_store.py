"""Optuna's trials in the project's store: a storage that wraps Optuna's RDB storage, never patches it.

``Store`` is an ``optuna.storages.BaseStorage`` that delegates each public method to an inner
``optuna.storages.RDBStorage``, as Optuna's own ``_CachedStorage`` delegates to its backend,
and retries each call while the database is away (storage/reconnect.py). It adds two things a
trial coordinator needs (search/engines/coordinator.py): ``record_heartbeat`` for the trial a
worker runs, and ``dead_trial_ids``, the one query that reads Optuna's tables directly.

The store is not one of Optuna's heartbeat storages: Optuna neither beats nor fails stale trials
on its own, so recovering a dead worker's trial has one path, the coordinator's. ``optuna.create_study``
and ``load_study`` put their ``_CachedStorage`` only around an ``RDBStorage``; this store is used as it is.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Container, Sequence
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from storage.config import store_settings
from storage.engine import (
    StorageError,
    install_sqlite_pragmas,
    redact,
    resolve_url,
    schema_lock,
    shared_engine,
    storage_errors,
)
from storage.reconnect import is_connection_error, retry_on_disconnect
from storage.schema import require_studies


class Store(optuna.storages.BaseStorage):
    """Optuna's RDB storage at ``url``, each call retried on disconnect; ``url`` and ``engine`` are public."""

    def __init__(self, backend: optuna.storages.RDBStorage, url: str) -> None:
        self._backend = backend
        self.url = url
        self.engine = backend.engine  # the RDB storage's own (public) engine, also for ``dead_trial_ids``

    # Studies
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        return _retried(self._backend.create_new_study, directions, study_name)

    def delete_study(self, study_id: int) -> None:
        _retried(self._backend.delete_study, study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        _retried(self._backend.set_study_user_attr, study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        _retried(self._backend.set_study_system_attr, study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return _retried(self._backend.get_study_id_from_name, study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return _retried(self._backend.get_study_name_from_id, study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return _retried(self._backend.get_study_directions, study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return _retried(self._backend.get_study_user_attrs, study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return _retried(self._backend.get_study_system_attrs, study_id)

    def get_all_studies(self) -> list[optuna.study.FrozenStudy]:
        return _retried(self._backend.get_all_studies)

    # Trials. Writes are idempotent (same value, same step) or, like create_new_trial, fail
    # before their commit when the connection is gone, so a retry is safe.
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return _retried(self._backend.create_new_trial, study_id, template_trial)

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any) -> None:
        _retried(self._backend.set_trial_param, trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return _retried(self._backend.get_trial_id_from_study_id_trial_number, study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return _retried(self._backend.get_trial_number_from_id, trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return _retried(self._backend.get_trial_param, trial_id, param_name)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        return _retried(self._backend.set_trial_state_values, trial_id, state, values)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        _retried(self._backend.set_trial_intermediate_value, trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        _retried(self._backend.set_trial_user_attr, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        _retried(self._backend.set_trial_system_attr, trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return _retried(self._backend.get_trial, trial_id)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return _retried(self._backend.get_all_trials, study_id, deepcopy, states)

    def get_n_trials(self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None) -> int:
        return _retried(self._backend.get_n_trials, study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return _retried(self._backend.get_best_trial, study_id)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return _retried(self._backend.get_trial_user_attrs, trial_id)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return _retried(self._backend.get_trial_system_attrs, trial_id)

    def remove_session(self) -> None:
        self._backend.remove_session()

    # What the trial coordinator adds.
    def record_heartbeat(self, trial_id: int) -> None:
        """Mark the trial alive now, by the store's clock.

        A beat that could not be written after the whole outage allowance is skipped, not raised:
        the trial's own next store call fails in one line, and its heartbeat goes stale so another
        worker recovers it.
        """
        try:
            _retried(self._backend.record_heartbeat, trial_id)
        except Exception as error:  # the outage was reported once already (storage/reconnect.py)
            if not is_connection_error(error):
                raise

    def dead_trial_ids(self, study_id: int, grace_seconds: float) -> list[int]:
        """RUNNING trials of ``study_id`` whose worker is gone (see ``dead_trial_ids``)."""
        with storage_errors(self.url):
            return _retried(dead_trial_ids, self.engine, study_id, grace_seconds)


def _retried(method: Any, *args: Any) -> Any:
    return retry_on_disconnect(method)(*args)


# Optuna's own tables, named as its schema names them (optuna/storages/_rdb/models.py).
_trials = sa.table(
    "trials", sa.column("trial_id"), sa.column("study_id"), sa.column("state"),
    sa.column("datetime_start", sa.DateTime),
)  # fmt: skip
_heartbeats = sa.table("trial_heartbeats", sa.column("trial_id"), sa.column("heartbeat", sa.DateTime))


def dead_trial_ids(engine: sa.Engine, study_id: int, grace_seconds: float) -> list[int]:
    """RUNNING trials whose worker is gone; the one function that reads Optuna's schema directly.

    It reads the ``trials`` and ``trial_heartbeats`` tables (their names, ``state = 'RUNNING'``
    and the two timestamps), which no public Optuna API exposes; tests/storage/test_optuna_schema.py
    checks it against the installed Optuna. A trial is dead when its heartbeat is older than the
    grace period by the store's clock (which wrote it), or when it never beat and started over a
    grace period ago by this machine's clock (which wrote its start): a worker killed between
    creating its trial and its first beat leaves such a trial.
    """
    grace = datetime.timedelta(seconds=grace_seconds)
    query = (
        sa.select(_trials.c.trial_id, _trials.c.datetime_start, _heartbeats.c.heartbeat)
        .select_from(_trials.outerjoin(_heartbeats, _heartbeats.c.trial_id == _trials.c.trial_id))
        .where(_trials.c.study_id == study_id, _trials.c.state == TrialState.RUNNING.name)
        .order_by(_trials.c.trial_id)
    )
    with engine.connect() as connection:
        store_now = connection.execute(sa.select(sa.func.now())).scalar_one()
        rows = connection.execute(query).all()
    store_now = store_now.replace(tzinfo=None)  # naive, as the stored heartbeats are
    here_now = datetime.datetime.now()
    return [
        row.trial_id
        for row in rows
        if (store_now - row.heartbeat > grace if row.heartbeat is not None
            else row.datetime_start is not None and here_now - row.datetime_start > grace)
    ]  # fmt: skip


def heartbeat_timings() -> tuple[int, int]:
    """(interval, grace period) in seconds, from the store's settings (storage/config.py)."""
    settings = store_settings()
    return settings.heartbeat_interval, settings.grace_period


def open_storage(url: str | None = None, must_exist: bool = False) -> Store:
    """Open (creating tables if needed) the Optuna store at ``url``, default the SQLite file.

    ``must_exist`` (commands that only read): the store must be there already, tables and all;
    nothing is created. Raises StorageError with one line when the URL is invalid, the database
    unreachable, the heartbeat settings wrong or, with ``must_exist``, not a store.
    """
    heartbeat_timings()  # wrong settings fail here, in one line, before any worker starts
    url = resolve_url(url, must_exist)
    if must_exist:
        require_studies(url)
    install_sqlite_pragmas()
    with storage_errors(url):
        try:
            backend = _optuna_storage(url)
        except ImportError as error:
            raise StorageError(f"storage {redact(url)} needs a database driver that is not installed") from error
    return Store(backend, url)


TABLE_RACE_TRIES = 5


def _optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage, which creates its tables if they are missing, safe beside other processes doing the same.

    On PostgreSQL an advisory lock serialises the creation (storage/engine.py). SQLite has no such
    lock to share with Optuna's own connections: a process that checked for the tables just before
    another created them fails ("table ... already exists", or a duplicate schema-version row); it
    tries again, and finds them made.
    """
    for attempt in range(1, TABLE_RACE_TRIES):
        try:
            with schema_lock(shared_engine(url)):
                return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (sa.exc.OperationalError, sa.exc.IntegrityError) as error:
            # "table ... already exists", or the schema version row another process wrote first.
            if not isinstance(error, sa.exc.IntegrityError) and "already exists" not in str(error):
                raise
            time.sleep(0.1 * attempt)
    with schema_lock(shared_engine(url)):  # the last try: whatever fails now is the error
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
