"""Pruning that lets the study's known-good first trials train to the end.

Hyperband compares a trial with the others of its bracket after one epoch. The family defaults
and the space's known-good points (spaces/first_trial.py) differ from each other mostly in what
pays off late (a cosine schedule, more dropout, batch norm); one epoch in, they are a coin toss
apart, and pruning one of them would throw away the trial most likely to win. So they train to
the last epoch, as the defaults alone did when they were the only enqueued trial; every other
trial is pruned as the wrapped pruner says, measured against them too.

Wrapped, a Hyperband pruner no longer tells the sampler to look only at the trial's own bracket
(``optuna.pruners._filter_study`` checks the pruner's class): the sampler learns from every trial
of the study, which in a short study is the difference between a handful of points and a few.
"""

from __future__ import annotations

import optuna

# The warm_start user attribute of the trials that launch enqueues first (search/engines/launch.py).
DEFAULTS, KNOWN_GOOD = "defaults", "known-good"
TRAIN_TO_THE_END = (DEFAULTS, KNOWN_GOOD)


class KnownGoodToTheEnd(optuna.pruners.BasePruner):
    """Delegate to ``pruner``, except for the enqueued default and known-good trials: never prune those."""

    def __init__(self, pruner: optuna.pruners.BasePruner) -> None:
        self._pruner = pruner

    @property
    def wrapped(self) -> optuna.pruners.BasePruner:
        return self._pruner

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if trial.user_attrs.get("warm_start") in TRAIN_TO_THE_END:
            return False
        return self._pruner.prune(study, trial)
