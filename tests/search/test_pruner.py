"""The enqueued default and known-good trials train to the end; every other trial is pruned as before."""

from __future__ import annotations

import optuna

from search.study.settings import make_pruner


def trial_with(study: optuna.Study, values: list[float], warm_start: str | None = None) -> optuna.Trial:
    trial = study.ask()
    if warm_start:
        trial.set_user_attr("warm_start", warm_start)
    for step, value in enumerate(values, 1):
        trial.report(value, step)
    return trial


def test_a_weak_known_good_trial_is_not_pruned_where_the_same_sampled_trial_is() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 5))
    for value in (0.8, 0.82, 0.85, 0.81, 0.83):
        study.tell(trial_with(study, [value, value]), value)
    assert trial_with(study, [0.1, 0.1]).should_prune()
    assert not trial_with(study, [0.1, 0.1], warm_start="known-good").should_prune()
    assert not trial_with(study, [0.1, 0.1], warm_start="defaults").should_prune()
    assert trial_with(study, [0.1, 0.1], warm_start="s000-dense").should_prune()  # a seed model is not exempt


def test_hyperband_still_prunes_the_sampled_trials_of_a_bracket() -> None:
    # A fixed name: Hyperband places trials in brackets by a checksum of the study name and trial number.
    study = optuna.create_study(study_name="brackets", direction="maximize", pruner=make_pruner("hyperband", 27))
    pruned = 0
    for number in range(30):
        trial = trial_with(study, [0.9 - 0.01 * number])
        pruned += trial.should_prune()
        study.tell(trial, 0.9 - 0.01 * number)
    assert pruned > 10  # later, weaker trials lose to the earlier ones of their bracket
