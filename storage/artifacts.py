"""Where trial files (learning curves, confusion matrices) are kept: an Optuna artifact store on disk.

Optuna's store holds only each file's id; the bytes live in a folder, each file as
``<id>/<its own name>`` (e.g. ``0b1c…/learning_curve.png``), so the folder can be browsed and
each file opened with its extension. Files written before that layout (``<id>`` alone) are
still read. The folder is:

- ``FMNIST_ARTIFACTS`` (or the dashboard's ``--artifacts DIR``) when set;
- for a SQLite store ``.../studies.db``, the folder ``.../artifacts`` beside it;
- for any other store (PostgreSQL), ``$FMNIST_SEARCH_HOME/artifacts``. Workers on other
  machines then need ``FMNIST_ARTIFACTS`` pointing at a folder they all share (NFS, a mounted
  bucket), or each machine keeps its own trials' files and the dashboard shows only those.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO

from optuna.artifacts.exceptions import ArtifactNotFound
from sqlalchemy.engine import make_url

from storage.config import store_settings


def artifact_dir(storage_url: str, explicit: str | None = None) -> Path:
    """The folder that holds the trial files of the store at ``storage_url``."""
    chosen = explicit or store_settings().artifacts
    if chosen:
        return Path(chosen)
    parsed = make_url(storage_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "artifacts"
    return store_settings().search_home / "artifacts"


def open_artifact_store(storage_url: str, explicit: str | None = None) -> NamedArtifactStore:
    """The artifact store beside ``storage_url``; its folder is created on first use."""
    path = artifact_dir(storage_url, explicit)
    path.mkdir(parents=True, exist_ok=True)
    return NamedArtifactStore(path)


# Optuna's ids are UUIDs, and optuna-dashboard's routes take only these characters: nothing
# that could climb out of the folder.
_ARTIFACT_ID = re.compile(r"[0-9a-fA-F-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FALLBACK_NAME = "artifact"  # for bytes with no file name (an upload through the dashboard)


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
        name = _UNSAFE.sub("_", os.path.basename(str(getattr(content_body, "name", "") or ""))).lstrip(".") or FALLBACK_NAME
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
