"""Optuna's RDB storage on the project's store, with heartbeats so a dead worker's trial is retried."""

from __future__ import annotations

import warnings

import optuna

from storage.engine import StorageError, install_sqlite_pragmas, redact, resolve_url, storage_errors

# A worker that has not beaten for GRACE_PERIOD seconds is dead: its RUNNING trial is marked
# FAILED and re-queued with the same params, at most MAX_RETRY times.
HEARTBEAT_INTERVAL = 20
GRACE_PERIOD = 90
MAX_RETRY = 2


def open_storage(url: str | None = None, must_exist: bool = False) -> optuna.storages.RDBStorage:
    """Open (creating tables if needed) the Optuna store at ``url``, default the SQLite file.

    Raises StorageError with one line when the URL is invalid or the database unreachable.
    """
    url = resolve_url(url, must_exist)
    install_sqlite_pragmas()
    with storage_errors(url), warnings.catch_warnings():
        # Heartbeats are marked experimental since Optuna 2.8; the warning says nothing to a user.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return _rdb_storage(url)
        except ImportError:
            raise StorageError(f"storage {redact(url)} needs a database driver that is not installed") from None


def _rdb_storage(url: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs={"pool_pre_ping": True},
        heartbeat_interval=HEARTBEAT_INTERVAL,
        grace_period=GRACE_PERIOD,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
    )
