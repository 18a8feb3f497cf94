"""The SQL store: storage URLs, engine settings and Optuna's RDB storage on top of them."""

from storage.engine import StorageError, default_url, home_dir, redact, resolve_url, storage_errors
from storage.optuna_store import open_storage

__all__ = ["StorageError", "default_url", "home_dir", "open_storage", "redact", "resolve_url", "storage_errors"]
