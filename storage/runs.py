"""Runs of a study: each `start` or `worker` takes the next run number, so its samplers draw anew.

A sampler seeded only with ``--seed`` and the worker index re-draws the random start-up
parameters of every earlier run of the same study when it is resumed, and N concurrent starts
of one study draw the same parameters N times. The run number, taken atomically from the
project's own table, makes each run's sampler seed unique to it; the first run of a study
keeps ``seed + worker index``, so a one-worker seeded study run from scratch is reproducible.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from storage.engine import ensure_tables, shared_engine, storage_errors
from storage.reconnect import retry_on_disconnect

SEED_SPACE = 2**31  # below NumPy's 2**32 with room for the per-model offsets Keras seeds take

metadata = sa.MetaData()
runs = sa.Table(
    "fmnist_runs",
    metadata,
    sa.Column("study_name", sa.String(512), primary_key=True),
    sa.Column("started", sa.Integer, nullable=False),  # runs started so far
)


def next_run(url: str, study_name: str) -> int:
    """This run's number: 0 for a study's first run, then 1, 2, … whatever processes ask at once."""
    engine = shared_engine(url)
    with storage_errors(url):
        ensure_tables(engine, metadata)
        return _next_run(engine, study_name)


@retry_on_disconnect
def _next_run(engine: sa.Engine, study_name: str) -> int:
    # One transaction: the UPDATE locks the row until the commit, so the SELECT reads our own count.
    with engine.begin() as connection:
        bumped = connection.execute(
            runs.update().where(runs.c.study_name == study_name).values(started=runs.c.started + 1)
        )
        if bumped.rowcount == 1:
            return (
                int(connection.execute(sa.select(runs.c.started).where(runs.c.study_name == study_name)).scalar_one())
                - 1
            )
    try:
        with engine.begin() as connection:
            connection.execute(runs.insert().values(study_name=study_name, started=1))
        return 0
    except sa.exc.IntegrityError:  # another process inserted the row a moment ago: take the next number
        return _next_run(engine, study_name)


def sampler_seed(seed: int, run: int, worker_id: int) -> int:
    """The sampler seed of one worker of one run: ``seed + worker_id`` in run 0, mixed and distinct after."""
    if run == 0:
        return (seed + worker_id) % SEED_SPACE
    digest = hashlib.sha256(f"{seed}:{run}:{worker_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % SEED_SPACE
