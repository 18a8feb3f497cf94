"""Trial files kept in the SQL store itself, so every machine's workers and the dashboard share them.

A store on a database server (PostgreSQL) is what several machines share; a folder on one of them
is not. So, unless a folder is named, trial files (learning curves, notes' pictures) go into the
project's own table ``fmnist_artifacts`` of the same database: one row per file, its id, its
name and its bytes. It implements Optuna's artifact store protocol (``open_reader``, ``write``,
``remove``), so ``optuna.artifacts.upload_artifact`` and optuna-dashboard use it as they use a
folder. Files are small (a PNG of tens of kB), so a row holds a whole file.
"""

from __future__ import annotations

import io
import os
import re
from typing import BinaryIO

import sqlalchemy as sa
from optuna.artifacts.exceptions import ArtifactNotFound

from storage.engine import ensure_tables, shared_engine, storage_errors
from storage.reconnect import retry_on_disconnect

metadata = sa.MetaData()
artifacts = sa.Table(
    "fmnist_artifacts",
    metadata,
    sa.Column("artifact_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
FALLBACK_NAME = "artifact"  # bytes with no file name (an upload through the dashboard)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name_of(content_body: BinaryIO) -> str:
    """The uploaded file's own name, made safe to keep (no folders, no leading dots, plain characters)."""
    name = os.path.basename(str(getattr(content_body, "name", "") or ""))
    return _UNSAFE.sub("_", name).lstrip(".")[:255] or FALLBACK_NAME


class DatabaseArtifactStore:
    """Optuna's artifact store protocol over the ``fmnist_artifacts`` table of the store at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = shared_engine(url)  # one per process and URL, disposed at exit
        with storage_errors(url):
            ensure_tables(self._engine, metadata)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        with storage_errors(self.url):
            data = self._read(artifact_id)
        if data is None:
            raise ArtifactNotFound(f"artifact {artifact_id} is not in the store's {artifacts.name} table")
        return io.BytesIO(data)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        name = file_name_of(content_body)
        data = content_body.read()
        with storage_errors(self.url):
            self._write(artifact_id, name, data)

    def remove(self, artifact_id: str) -> None:
        with storage_errors(self.url):
            removed = self._remove(artifact_id)
        if not removed:
            raise ArtifactNotFound(f"artifact {artifact_id} is not in the store's {artifacts.name} table")

    # One transaction each: a connection lost before the commit rolls it back, so a retry is safe.
    @retry_on_disconnect
    def _read(self, artifact_id: str) -> bytes | None:
        with self._engine.connect() as connection:
            query = sa.select(artifacts.c.data).where(artifacts.c.artifact_id == artifact_id)
            return connection.execute(query).scalar_one_or_none()

    @retry_on_disconnect
    def _write(self, artifact_id: str, name: str, data: bytes) -> None:
        with self._engine.begin() as connection:  # a rewrite of the same id replaces the file, as on disk
            connection.execute(artifacts.delete().where(artifacts.c.artifact_id == artifact_id))
            connection.execute(artifacts.insert().values(artifact_id=artifact_id, name=name, data=data))

    @retry_on_disconnect
    def _remove(self, artifact_id: str) -> bool:
        with self._engine.begin() as connection:
            return connection.execute(artifacts.delete().where(artifacts.c.artifact_id == artifact_id)).rowcount == 1
