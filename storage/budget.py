"""Study-wide trial budgets: an atomic claim before each trial, in the project's own table.

Counting finished trials after the fact overshoots by up to N-1 with N workers. Instead, a
worker claims a slot before it starts a trial, with one UPDATE that only succeeds while slots
are left; that statement is atomic on SQLite and PostgreSQL alike. A trial that fails (or is
interrupted, or whose worker dies) gives its slot back, so failed trials never use up the
budget and a re-queued trial claims a slot like any other.

This module is the counter's SQL only. Who claims, keeps and gives back a slot, and when claims
that no trial holds are dropped, is decided by the trial coordinator (search/engines/coordinator.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.engine import ensure_tables, shared_engine, storage_errors
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
        self.url = url
        self.study_name = study_name
        self.engine = shared_engine(url)  # one per process and URL (storage/engine.py)
        with storage_errors(url):
            ensure_tables(self.engine, metadata)

    def reset(self, n_trials: int | None, already_used: int, set_limit: bool = True) -> None:
        """Set the budget and the slots in use (finished + running trials), e.g. when a study (re)starts.

        ``set_limit=False`` (a resume that did not say ``--trials``) leaves the stored limit alone:
        a start that read the settings a moment before another one changed them must not put
        the old limit back.
        """
        with storage_errors(self.url):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        budgets.insert().values(study_name=self.study_name, n_trials=n_trials, claimed=already_used)
                    )
            except sa.exc.IntegrityError:  # the row exists (maybe made a moment ago by another start)
                # Never lower the claims here: workers of a run still going may hold claims whose
                # trials do not exist yet. Claims no one holds are dropped by reconcile.
                claimed = sa.case((budgets.c.claimed > already_used, budgets.c.claimed), else_=already_used)
                with self.engine.begin() as connection:
                    connection.execute(
                        budgets.update()
                        .where(budgets.c.study_name == self.study_name)
                        .values(claimed=claimed, **({"n_trials": n_trials} if set_limit else {}))
                    )

    def limit(self) -> int | None:
        """The study's trial budget; None: no limit."""
        with storage_errors(self.url):
            return self._limit()

    def claimed(self) -> int:
        """Slots claimed now (finished trials, running ones, and claims about to become trials)."""
        return self.state()[1]

    def reconcile(self, seen_claimed: int, in_use: int) -> bool:
        """Set the claims to ``in_use`` if they are still ``seen_claimed``: drops claims no live worker holds.

        Compare-and-set, so a claim made since the caller looked is never dropped.
        """
        with storage_errors(self.url):
            return self._reconcile(seen_claimed, in_use)

    def take(self) -> bool | None:
        """Take one slot: True if taken, False when the budget is spent, None when the study has no limit."""
        with storage_errors(self.url):
            return self._claim()

    def claim(self) -> bool:
        """Take one slot; False when the budget is spent. Studies without a budget row are unlimited."""
        with storage_errors(self.url):
            return self._claim() is not False

    def release(self) -> None:
        """Give one slot back (a trial failed, was interrupted, or its worker died)."""
        with storage_errors(self.url):
            self._release()

    # One transaction each: a connection lost before the commit rolls it back, so a retry is safe.
    @retry_on_disconnect
    def _claim(self) -> bool | None:
        """Whether a slot was taken; None when the study has no limit (nothing is counted then)."""
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.select(budgets.c.n_trials).where(budgets.c.study_name == self.study_name)
            ).first()
            if row is None or row.n_trials is None:
                return None
            taken = connection.execute(
                budgets.update()
                .where(budgets.c.study_name == self.study_name, budgets.c.claimed < budgets.c.n_trials)
                .values(claimed=budgets.c.claimed + 1)
            )
            return taken.rowcount == 1

    @retry_on_disconnect
    def _limit(self) -> int | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(budgets.c.n_trials).where(budgets.c.study_name == self.study_name)
            ).first()
        return None if row is None else row.n_trials

    @retry_on_disconnect
    def _reconcile(self, seen_claimed: int, in_use: int) -> bool:
        with self.engine.begin() as connection:
            changed = connection.execute(
                budgets.update()
                .where(budgets.c.study_name == self.study_name, budgets.c.claimed == seen_claimed)
                .values(claimed=in_use)
            )
            return changed.rowcount == 1

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
        with storage_errors(self.url):
            return self._state()

    @retry_on_disconnect
    def _state(self) -> tuple[int | None, int]:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(budgets.c.n_trials, budgets.c.claimed).where(budgets.c.study_name == self.study_name)
            ).first()
        return (row.n_trials, row.claimed) if row else (None, 0)

    def close(self) -> None:
        """Nothing to close: the engine is the process's shared one (storage/engine.py disposes it)."""
