"""`fmnist-search start` in-process with a stub trainer: options, store, budget and workers stay real.

Not a test module. ``use_stub_training`` puts ``tests.stub_worker.stub_factory`` in the
``objective_factory`` seam of ``run_worker``; several workers run one after another in this
process instead of as spawned processes (a spawned process would import the real trainer).
"""

from __future__ import annotations

import functools
import os

import pytest

from search.engines import runner
from search.engines.optuna.worker import run_worker
from tests.stub_worker import stub_factory


def use_stub_training(monkeypatch: pytest.MonkeyPatch, epoch_seconds: float = 0.0) -> list[int]:
    """Stub the training of every worker `start` runs; returns the list of worker counts started, one per run."""
    stub_worker = functools.partial(run_worker, objective_factory=stub_factory(epoch_seconds))
    started: list[int] = []

    def stub(job, **kwargs):
        # A worker sets its device and thread environment for its own process; here that is the test's.
        saved = dict(os.environ)
        try:
            return stub_worker(job, **kwargs)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def in_process(jobs, study, refresh) -> None:
        started.append(len(jobs))
        for job in jobs:
            stub(job)
            refresh()

    original_run_study = runner.run_study

    def counting_run_study(job, settings, workers, *args, **options):
        if workers == 1:
            started.append(1)
        return original_run_study(job, settings, workers, *args, **options)

    monkeypatch.setattr(runner, "run_worker", stub)
    monkeypatch.setattr(runner, "_run_processes", in_process)
    monkeypatch.setattr("search.engines.launch.run_study", counting_run_study)
    return started
