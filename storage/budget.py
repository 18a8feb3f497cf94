"""Study-wide trial budgets: an atomic claim before each trial, in the project's own table.

Counting finished trials after the fact overshoots by up to N-1 with N workers. Instead, a
worker claims a slot before it starts a trial, with one UPDATE that only succeeds while slots
are left; that statement is atomic on SQLite and PostgreSQL alike. A trial that fails (or is
interrupted, or whose worker dies) gives its slot back, so failed trials never use up the
budget and a re-queued trial claims a slot like any other.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.engine import install_sqlite_pragmas, storage_errors
from storage.reconnect import retry_on_disconnect

metadata = sa.MetaData()
budgets = sa.Table(
    "fmnist_budgets",
    metadata,
    sa.Column("study_name", sa.String(512), primary_key=True),
    sa.Column("n_trials", sa.Integer, nullable=True),  # NULL: no limit
    sa.Column("claimed", sa.Integer, nullable=False, default=0),
)


class Budget:
    """The claim counter of one study in the store at ``url``."""

    def __init__(self, url: str, study_name: str) -> None:
        install_sqlite_pragmas()
        self.url = url
        self.study_name = study_name
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        with storage_errors(url):
            metadata.create_all(self.engine, checkfirst=True)

    def reset(self, n_trials: int | None, already_used: int) -> None:
        """Set the budget and the slots in use (finished + running trials), e.g. when a study (re)starts."""
        values = {"n_trials": n_trials, "claimed": already_used}
        with storage_errors(self.url):
            try:
                with self.engine.begin() as connection:
                    connection.execute(budgets.insert().values(study_name=self.study_name, **values))
            except sa.exc.IntegrityError:  # the row exists (maybe made a moment ago by another start)
                with self.engine.begin() as connection:
                    connection.execute(budgets.update().where(budgets.c.study_name == self.study_name).values(**values))

    def claim(self) -> bool:
        """Take one slot; False when the budget is spent. Studies without a budget row are unlimited."""
        with storage_errors(self.url):
            return self._claim()

    def release(self) -> None:
        """Give one slot back (a trial failed, was interrupted, or its worker died)."""
        with storage_errors(self.url):
            self._release()

    # One transaction each: a connection lost before the commit rolls it back, so a retry is safe.
    @retry_on_disconnect
    def _claim(self) -> bool:
        with self.engine.begin() as connection:
            row = connection.execute(sa.select(budgets.c.n_trials).where(budgets.c.study_name == self.study_name)).first()
            if row is None or row.n_trials is None:
                return True
            taken = connection.execute(
                budgets.update()
                .where(budgets.c.study_name == self.study_name, budgets.c.claimed < budgets.c.n_trials)
                .values(claimed=budgets.c.claimed + 1)
            )
            return taken.rowcount == 1

    @retry_on_disconnect
    def _release(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                budgets.update()
                .where(budgets.c.study_name == self.study_name, budgets.c.claimed > 0)
                .values(claimed=budgets.c.claimed - 1)
            )

    def state(self) -> tuple[int | None, int]:
        """(n_trials, claimed) as stored; (None, 0) without a row."""
        with storage_errors(self.url), self.engine.connect() as connection:
            row = connection.execute(sa.select(budgets.c.n_trials, budgets.c.claimed).where(budgets.c.study_name == self.study_name)).first()
        return (row.n_trials, row.claimed) if row else (None, 0)

    def close(self) -> None:
        self.engine.dispose()
