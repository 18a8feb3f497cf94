"""How low Hyperband's epoch ratio can go: the trials it never prunes, for a study name and size.

Optuna's ``HyperbandPruner(min_resource=1, max_resource=E, reduction_factor=3)`` runs
``floor(log3(E)) + 1`` brackets and gives each trial to one of them by a hash of
``"{study name}_{trial number}"``, in the proportion 9 : 5 : 3 for three brackets. Bracket ``b``
first checks a trial after ``3**b`` epochs. Two kinds of trials always train to the end:

- every trial of a bracket whose first check comes at the last epoch (with E = 9 = 3**2, the
  third bracket: fmnist-search never prunes after the last epoch);
- the first trial of each bracket: with fewer than 3 trials at a rung, Optuna promotes a trial
  only if it is the best there, and the first one is.

Every other trial trains at least to its bracket's first check. The sum is the fewest epochs
the search can train, so ``floor / (trials * E)`` is the lowest ``pruning_epoch_ratio`` that
``python -m bench`` can report, even if every trial that may be pruned is pruned at once.
``--simulate N`` also runs N studies of random synthetic learning curves through the real
pruner (no training) and gives the ratio's median and 10-90 % range: what to expect, not a floor.

    python -m bench.hyperband_floor [--study pruning-hyperband] [--epochs 9,15] [--trials 18,60] [--simulate 40]
"""

from __future__ import annotations

import argparse
import binascii
import math
import random
import statistics
from dataclasses import dataclass

import optuna

REDUCTION_FACTOR = 3
MIN_RESOURCE = 1


@dataclass(frozen=True)
class Floor:
    trials_per_bracket: tuple[int, ...]
    never_pruned: int  # trials that must train every epoch
    min_epochs: int
    max_epochs: int
    n_trials: int

    @property
    def ratio(self) -> float:
        return self.min_epochs / (self.n_trials * self.max_epochs)


def bracket_budgets(max_epochs: int) -> list[int]:
    """Optuna's share of trials per bracket (HyperbandPruner._calculate_trial_allocation_budget)."""
    n_brackets = math.floor(math.log(max_epochs / MIN_RESOURCE, REDUCTION_FACTOR)) + 1
    budgets = []
    for bracket in range(n_brackets):
        s = n_brackets - 1 - bracket
        budgets.append(math.ceil(n_brackets * REDUCTION_FACTOR**s / (s + 1)))
    return budgets


def bracket_of(study_name: str, number: int, budgets: list[int]) -> int:
    """The bracket Optuna gives trial ``number`` (HyperbandPruner._get_bracket_id)."""
    n = binascii.crc32(f"{study_name}_{number}".encode()) % sum(budgets)
    for bracket, budget in enumerate(budgets):
        n -= budget
        if n < 0:
            return bracket
    raise AssertionError("unreachable")


def epoch_floor(study_name: str, max_epochs: int, n_trials: int) -> Floor:
    budgets = bracket_budgets(max_epochs)
    brackets = [bracket_of(study_name, number, budgets) for number in range(n_trials)]
    seen: set[int] = set()
    never_pruned = min_epochs = 0
    for bracket in brackets:
        first_check = MIN_RESOURCE * REDUCTION_FACTOR**bracket
        if first_check >= max_epochs or bracket not in seen:
            never_pruned += 1
            min_epochs += max_epochs
        else:
            min_epochs += first_check
        seen.add(bracket)
    counts = tuple(brackets.count(b) for b in range(len(budgets)))
    return Floor(counts, never_pruned, min_epochs, max_epochs, n_trials)


def simulated_ratio(max_epochs: int, n_trials: int, seed: int) -> float:
    """Epochs trained with the real pruner over ``n_trials * max_epochs``, on random synthetic curves."""
    rng = random.Random(seed)
    pruner = optuna.pruners.HyperbandPruner(MIN_RESOURCE, max_epochs, REDUCTION_FACTOR)
    study = optuna.create_study(study_name=f"simulated-{seed}", direction="maximize", pruner=pruner)
    epochs = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal epochs
        final, start, pace = rng.uniform(0.70, 0.89), rng.uniform(0.30, 0.75), rng.uniform(0.5, 4.0)
        best = 0.0
        for step in range(1, max_epochs + 1):
            accuracy = final - (final - start) * math.exp(-(step - 1) / pace) + rng.gauss(0, 0.005)
            best = max(best, accuracy)
            epochs += 1
            trial.report(accuracy, step)
            if (
                step < max_epochs and trial.should_prune()
            ):  # as search/engines/optuna/objective.py: never after the last
                raise optuna.TrialPruned()
        return best

    study.optimize(objective, n_trials=n_trials)
    return epochs / (n_trials * max_epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="pruning-hyperband", help="study name (python -m bench uses this one)")
    parser.add_argument("--epochs", default="9,15", help="max epochs, comma-separated")
    parser.add_argument("--trials", default="18,60", help="trial counts, comma-separated")
    parser.add_argument("--simulate", type=int, default=0, help="also simulate this many studies per row")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    print(
        "| max epochs | trials | trials per bracket | never pruned | fewest epochs | floor ratio "
        "| simulated median (10-90 %) |"
    )
    print("|---|---|---|---|---|---|---|")
    for max_epochs in (int(e) for e in args.epochs.split(",")):
        for n_trials in (int(n) for n in args.trials.split(",")):
            floor = epoch_floor(args.study, max_epochs, n_trials)
            simulated = "—"
            if args.simulate:
                ratios = [simulated_ratio(max_epochs, n_trials, seed) for seed in range(args.simulate)]
                deciles = statistics.quantiles(ratios, n=10)
                simulated = f"{statistics.median(ratios):.3f} ({deciles[0]:.3f}–{deciles[-1]:.3f})"
            print(f"| {max_epochs} | {n_trials} | {' : '.join(map(str, floor.trials_per_bracket))} | "
                  f"{floor.never_pruned} | {floor.min_epochs} of {n_trials * max_epochs} | {floor.ratio:.3f} "
                  f"| {simulated} |")  # fmt: skip


if __name__ == "__main__":
    main()
