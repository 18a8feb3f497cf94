"""bench.soak's result, and the promises checked on the study at the end of a run."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

import optuna


@dataclass
class SoakResult:
    backend: str
    workers: int
    minutes: float
    seconds: float = 0.0
    finished: int = 0
    budget: int = 0
    claimed_at_budget: int = 0  # claims in the store once the final budget was set
    trials_per_second: float = 0.0
    store_ms_p50: float = 0.0
    store_ms_p99: float = 0.0
    peak_connections: int | None = None
    chaos: dict[str, int] = field(default_factory=dict)
    interrupted: int = 0
    rerun: int = 0
    gave_up: int = 0
    failures: list[str] = field(default_factory=list)
    engine: str = "optuna"


def check_promises(result: SoakResult, study: optuna.Study) -> None:
    """The promises: exact budget, nothing left running or waiting, interrupted trials re-run, no repeats."""
    from search.study.settings import FINISHED

    State = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in FINISHED]
    result.finished = len(finished)
    result.trials_per_second = round(result.finished / max(result.seconds, 1.0), 3)
    if result.finished != result.budget:
        result.failures.append(f"{result.finished} trials finished for a budget of {result.budget}")
    left = [t.number for t in trials if t.state in (State.RUNNING, State.WAITING)]
    if left:
        result.failures.append(f"trials left RUNNING or WAITING: {left[:10]}")
    store_ms = [ms for t in trials for ms in t.user_attrs.get("store_ms", [])]
    if store_ms:
        result.store_ms_p50 = round(statistics.median(store_ms), 2)
        result.store_ms_p99 = round(statistics.quantiles(store_ms, n=100)[98], 2)
    # Lineages: a re-run points at what it re-runs (requeued_from after a signal or a timeout,
    # failed_trial after a dead worker); params may repeat inside a lineage, never across two.
    origin: dict[int, int] = {}
    for t in trials:
        source = t.user_attrs.get("requeued_from", t.system_attrs.get("failed_trial"))
        origin[t.number] = origin.get(source, source) if source is not None else t.number
    lineages: dict[str, set[int]] = {}
    counted: dict[str, int] = {}
    for t in trials:
        if t.params:  # a trial killed before it drew its params has none
            key = json.dumps(t.params, sort_keys=True)
            lineages.setdefault(key, set()).add(origin[t.number])
            counted[key] = counted.get(key, 0) + (t.state in FINISHED)
    repeated = [params for params, roots in lineages.items() if len(roots) > 1]
    if repeated:
        result.failures.append(f"{len(repeated)} parameter set(s) drawn by two lineages: {repeated[:2]}")
    twice = [params for params, n in counted.items() if n > 1]
    if twice:
        result.failures.append(f"{len(twice)} parameter set(s) finished twice (counted twice): {twice[:2]}")
    failed = [t for t in trials if t.state == State.FAIL]
    result.interrupted = len(failed)
    rerun_of = {n for t in trials for n in (t.user_attrs.get("requeued_from"), t.system_attrs.get("failed_trial"))}
    rerun_of |= {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    gave_up = [t for t in failed if t.number not in rerun_of and len(t.system_attrs.get("retry_history", [])) >= 2]
    lost = [t.number for t in failed if t.number not in rerun_of and t not in gave_up]
    result.rerun, result.gave_up = len(failed) - len(gave_up) - len(lost), len(gave_up)
    if lost:
        result.failures.append(f"interrupted trials never re-run: {lost[:10]}")
