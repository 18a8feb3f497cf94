"""The comparison figures, computed from finished searches: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.studies import SearchRun


def total_epochs(run: SearchRun) -> int:
    """Epochs trained over all finished trials (complete and pruned)."""
    return sum(t.epochs for t in run.trials)


def best_value(run: SearchRun, until_s: float | None = None) -> float | None:
    """Best value of the complete trials that ended by ``until_s`` (all of them without it)."""
    values = [t.value for t in run.trials if t.value is not None and (until_s is None or t.finished_s <= until_s)]
    return max(values, default=None)


def time_to_reach(run: SearchRun, target: float) -> float | None:
    """Seconds after the start at which a complete trial first reached ``target``; None if none did."""
    for trial in run.trials:  # in the order they ended
        if trial.value is not None and trial.value >= target:
            return trial.finished_s
    return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def pruning_figures(pruned: SearchRun, unpruned: SearchRun) -> dict[str, Any]:
    """Epochs with pruning over without; best accuracy without minus with, in percentage points."""
    best_with, best_without = best_value(pruned), best_value(unpruned)
    gap = None if best_with is None or best_without is None else (best_without - best_with) * 100
    return {
        "pruning_epoch_ratio": _ratio(total_epochs(pruned), total_epochs(unpruned)),
        "pruning_best_gap": gap,
        "pruning_epochs_with": total_epochs(pruned),
        "pruning_epochs_without": total_epochs(unpruned),
        "pruning_best_with": best_with,
        "pruning_best_without": best_without,
        "pruning_trials_pruned": sum(t.state == "PRUNED" for t in pruned.trials),
        "pruning_trials": len(pruned.trials),
        "pruning_seconds_with": pruned.elapsed_s,
        "pruning_seconds_without": unpruned.elapsed_s,
    }


def kerastuner_figures(keras_tuner: SearchRun, ours: SearchRun) -> dict[str, Any]:
    """Both searches had KerasTuner's wall-clock time; how fast fmnist-search matched KerasTuner's best.

    ``kerastuner_time_ratio``: the seconds fmnist-search needed to reach KerasTuner's best value
    over the seconds KerasTuner needed to reach it; None when fmnist-search never reached it
    within the budget.
    """
    budget = keras_tuner.elapsed_s
    target = best_value(keras_tuner)
    kt_seconds = time_to_reach(keras_tuner, target) if target is not None else None
    our_seconds = time_to_reach(ours, target) if target is not None else None
    return {
        "kerastuner_time_ratio": _ratio(our_seconds, kt_seconds),
        "kerastuner_best_val_accuracy": target,
        "fmnist_search_best_val_accuracy": best_value(ours, until_s=budget),
        "kerastuner_budget_s": budget,
        "kerastuner_seconds_to_best": kt_seconds,
        "fmnist_search_seconds_to_kerastuner_best": our_seconds,
        "kerastuner_trials": len(keras_tuner.trials),
        "kerastuner_epochs": total_epochs(keras_tuner),
        "fmnist_search_trials": len([t for t in ours.trials if t.finished_s <= budget]),
        "fmnist_search_epochs": total_epochs(ours),
    }


def best_so_far(run: SearchRun, checkpoints_s: Sequence[float]) -> list[float | None]:
    """Best value of the complete trials that ended by each checkpoint (None before the first)."""
    return [best_value(run, until_s=seconds) for seconds in checkpoints_s]


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """Mean of the values, or None when any is missing (a mean over the seeds that happen to have one would flatter)."""
    if not values or any(value is None for value in values):
        return None
    return sum(values) / len(values)  # type: ignore[arg-type]


def anytime_figures(
    runs: dict[str, list[SearchRun]], epochs: dict[str, list[int]], checkpoints_s: Sequence[float]
) -> dict[str, Any]:
    """Per tool: the mean best-so-far curve over seeds, its final best and epochs trained; per pair
    of tools, how long one took to reach the other's final best (same seed index), as a ratio.

    ``reach[a][b]``: mean over seeds of (seconds for ``a`` to reach ``b``'s final best) / (seconds
    ``b`` took to reach it); None unless ``a`` reached it on every seed. Below 1: ``a`` got there sooner.
    """
    end = checkpoints_s[-1]
    tools: dict[str, Any] = {}
    for tool, tool_runs in runs.items():
        curves = [best_so_far(run, checkpoints_s) for run in tool_runs]
        tools[tool] = {
            "curve": [mean_or_none([curve[i] for curve in curves]) for i in range(len(checkpoints_s))],
            "final_best": [best_value(run, until_s=end) for run in tool_runs],
            "epochs": epochs[tool],
            "trials": [len([t for t in run.trials if t.finished_s <= end]) for run in tool_runs],
        }
    reach: dict[str, dict[str, Any]] = {}
    for a, a_runs in runs.items():
        reach[a] = {}
        for b, b_runs in runs.items():
            if a == b:
                continue
            ratios, seconds, targets = [], [], []
            for a_run, b_run in zip(a_runs, b_runs, strict=True):
                target = best_value(b_run, until_s=end)
                targets.append(target)
                a_seconds = time_to_reach(a_run, target) if target is not None else None
                b_seconds = time_to_reach(b_run, target) if target is not None else None
                if a_seconds is not None and a_seconds > end:
                    a_seconds = None
                seconds.append(a_seconds)
                ratios.append(_ratio(a_seconds, b_seconds))
            reach[a][b] = {"targets": targets, "seconds": seconds, "ratio": mean_or_none(ratios)}
    return {"checkpoints_s": list(checkpoints_s), "tools": tools, "reach": reach}
