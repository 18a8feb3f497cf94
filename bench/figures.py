"""The comparison figures, computed from finished searches: pure functions, no I/O."""

from __future__ import annotations

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
