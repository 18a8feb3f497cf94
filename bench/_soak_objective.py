"""bench.soak's stub trial, run in the workers through bench/with_objective.py: a few seconds a
trial, timing the store calls it makes per epoch. Kept apart so that a worker imports only this."""

from __future__ import annotations

import os
import time
from typing import Any

import optuna


def soak_objective(job: Any, settings: Any, _listener: Any) -> Any:
    """A trial of a few seconds: sleeps per epoch, reports, asks the pruner, times those store calls."""
    from search.runtime import interrupts
    from spaces.adapters import suggest

    epoch_seconds = float(os.environ.get("FMNIST_SOAK_EPOCH_SECONDS", "0.5"))

    def objective(trial: optuna.Trial) -> float:
        params = suggest(settings.space, trial)
        quality = 0.5 + (hash(repr(sorted(params.items()))) % 1000) / 2000
        store_ms: list[float] = []
        value = 0.0
        try:
            for epoch in range(1, settings.max_epochs + 1):
                interrupts.sleep(epoch_seconds)
                value = quality * (1 - 0.5**epoch)
                started = time.perf_counter()
                trial.report(value, epoch)
                prune = trial.should_prune()
                store_ms.append(1000 * (time.perf_counter() - started))
                if prune:
                    raise optuna.TrialPruned()
            return value
        finally:
            trial.set_user_attr("store_ms", [round(ms, 2) for ms in store_ms])

    return objective
