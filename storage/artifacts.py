"""Where trial files (learning curves, notes' pictures) are kept: an Optuna artifact store.

- A folder, when one is named: ``FMNIST_ARTIFACTS`` (or ``--artifacts DIR``).
- Else, for a SQLite store ``.../studies.db``, the folder ``.../artifacts`` beside it: one
  machine, and files that can be browsed.
- Else (a database server, e.g. PostgreSQL, which several machines share) the database itself
  (storage/db_artifacts.py): every machine's workers and the dashboard see the same files with
  nothing else to share or mount.

In a folder each file is ``<id>/<its own name>`` (e.g. ``0b1c…/learning_curve.png``), so it can
be opened with its extension; files written before that layout (``<id>`` alone) are still read.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import BinaryIO

from optuna.artifacts.exceptions import ArtifactNotFound
from sqlalchemy.engine import make_url

from storage.config import store_settings
from storage.db_artifacts import DatabaseArtifactStore, file_name_of


def artifact_dir(storage_url: str, explicit: str | None = None) -> Path | None:
    """The folder that holds the trial files of the store at ``storage_url``; None: the database holds them."""
    chosen = explicit or store_settings().artifacts
    if chosen:
        return Path(chosen)
    parsed = make_url(storage_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "artifacts"
    return None


def describe_artifact_store(storage_url: str, explicit: str | None = None) -> str:
    """Where the trial files are, for people: the folder, or "the store's database"."""
    folder = artifact_dir(storage_url, explicit)
    return str(folder) if folder is not None else "the store's database"


def open_artifact_store(storage_url: str, explicit: str | None = None) -> NamedArtifactStore | DatabaseArtifactStore:
    """The artifact store of ``storage_url``: its folder (created on first use), or its database."""
    path = artifact_dir(storage_url, explicit)
    if path is None:
        return DatabaseArtifactStore(storage_url)
    path.mkdir(parents=True, exist_ok=True)
    return NamedArtifactStore(path)


# Optuna's ids are UUIDs, and optuna-dashboard's routes take only these characters: nothing
# that could climb out of the folder.
_ARTIFACT_ID = re.compile(r"[0-9a-fA-F-]+")


class NamedArtifactStore:
    """Optuna's artifact store protocol (open_reader, write, remove) over a folder, keeping names.

    ``optuna.artifacts.upload_artifact`` hands ``write`` the file it opened, so the file's own
    name is known there even though Optuna passes only the id.
    """

    def __init__(self, base_path: Path) -> None:
        self._base = Path(base_path)

    def _folder(self, artifact_id: str) -> Path:
        if not _ARTIFACT_ID.fullmatch(artifact_id):
            raise ValueError(f"artifact id must be a UUID, but got {artifact_id!r}")
        return self._base / artifact_id

    def open_reader(self, artifact_id: str) -> BinaryIO:
        place = self._folder(artifact_id)
        if place.is_file():  # written before names were kept
            return open(place, "rb")
        files = sorted(place.iterdir()) if place.is_dir() else []
        if not files:
            raise ArtifactNotFound(f"artifact {artifact_id} is not in {self._base}")
        return open(files[0], "rb")

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        name = file_name_of(content_body)
        folder = self._folder(artifact_id)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / name, "wb") as target:
            shutil.copyfileobj(content_body, target)

    def remove(self, artifact_id: str) -> None:
        place = self._folder(artifact_id)
        if place.is_file():
            place.unlink()
        elif place.is_dir():
            shutil.rmtree(place)
        else:
            raise ArtifactNotFound(f"artifact {artifact_id} is not in {self._base}")
