"""bench/hyperband_floor.py: its bracket arithmetic must be Optuna's, or its floor means nothing."""

from __future__ import annotations

import optuna
import pytest

from bench.hyperband_floor import bracket_budgets, bracket_of, epoch_floor


@pytest.mark.parametrize("max_epochs", [9, 15])
def test_brackets_are_the_ones_optuna_gives(max_epochs: int) -> None:
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
    study = optuna.create_study(study_name="pruning-hyperband", direction="maximize", pruner=pruner)
    budgets = bracket_budgets(max_epochs)
    for _ in range(20):
        trial = study.ask()
        trial.report(0.5, 1)
        trial.should_prune()  # sets the pruner's brackets up
        frozen = study._storage.get_trial(trial._trial_id)
        assert bracket_of(study.study_name, trial.number, budgets) == pruner._get_bracket_id(study, frozen)
        study.tell(trial, 0.5)


def test_the_quick_benchmark_cannot_go_below_0_395() -> None:
    # python -m bench --quick: 18 trials of study "pruning-hyperband", max 9 epochs.
    floor = epoch_floor("pruning-hyperband", 9, 18)
    assert floor.trials_per_bracket == (11, 4, 3)
    assert floor.never_pruned == 5  # the 3 trials of the last bracket and the first of the other two
    assert floor.min_epochs == 5 * 9 + 10 * 1 + 3 * 3
    assert floor.ratio == pytest.approx(64 / 162)
