"""Where trial files (learning curves, confusion matrices) are kept: an Optuna artifact store on disk.

Optuna's store holds only each file's id; the bytes live in a folder:

- ``FMNIST_ARTIFACTS`` (or the dashboard's ``--artifacts DIR``) when set;
- for a SQLite store ``.../studies.db``, the folder ``.../artifacts`` beside it;
- for any other store (PostgreSQL), ``$FMNIST_SEARCH_HOME/artifacts``. Workers on other
  machines then need ``FMNIST_ARTIFACTS`` pointing at a folder they all share (NFS, a mounted
  bucket), or each machine keeps its own trials' files and the dashboard shows only those.
"""

from __future__ import annotations

import os
from pathlib import Path

from optuna.artifacts import FileSystemArtifactStore
from sqlalchemy.engine import make_url

from storage.engine import home_dir

ARTIFACTS_ENV = "FMNIST_ARTIFACTS"


def artifact_dir(storage_url: str, explicit: str | None = None) -> Path:
    """The folder that holds the trial files of the store at ``storage_url``."""
    chosen = explicit or os.environ.get(ARTIFACTS_ENV)
    if chosen:
        return Path(chosen)
    parsed = make_url(storage_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "artifacts"
    return home_dir() / "artifacts"


def open_artifact_store(storage_url: str, explicit: str | None = None) -> FileSystemArtifactStore:
    """The artifact store beside ``storage_url``; its folder is created on first use."""
    path = artifact_dir(storage_url, explicit)
    path.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(path))
