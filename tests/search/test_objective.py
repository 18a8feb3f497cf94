"""The objective under FixedTrial, per-trial records, pruning and memory clean-up."""

from __future__ import annotations

import optuna
import pytest

from search.runtime.quiet import import_keras

import_keras()

from search.engines.divergence import DIVERGED_ATTR  # noqa: E402
from search.engines.optuna.objective import TrainingContext, train_trial  # noqa: E402
from search.engines.record import history_of  # noqa: E402
from spaces import Fixed, Space  # noqa: E402
from spaces.families import defaults  # noqa: E402


def fixed_space(**overrides) -> Space:
    params = {**defaults("dense"), "units": 32, "n_layers": 1, **overrides}
    return Space(name="fixed", model="dense", params={k: Fixed(k, v) for k, v in params.items()})


def test_objective_runs_under_fixed_trial(real_subset) -> None:
    space = optuna.trial.FixedTrial({})
    context = TrainingContext(real_subset, max_epochs=2, seed=1, worker_id=3, device="cpu (test)")
    value = train_trial(space, fixed_space(), context)
    assert 0.5 < value <= 1.0  # a 32-unit net learns Fashion-MNIST well past chance in 2 epochs
    attrs = space.user_attrs
    assert attrs["epochs_run"] == 2 and attrs["best_epoch"] in (1, 2)
    assert attrs["param_count"] == 784 * 32 + 32 + 32 * 10 + 10
    assert attrs["worker_id"] == 3 and attrs["device"] == "cpu (test)" and attrs["train_seconds"] > 0
    assert len(history_of(space)["val_accuracy"]) == 2 and "history" not in attrs  # kept out of the dashboard's list
    assert value == max(history_of(space)["val_accuracy"])


def test_same_seed_same_result(real_subset) -> None:
    context = TrainingContext(real_subset, max_epochs=1, seed=7)
    first = train_trial(optuna.trial.FixedTrial({}), fixed_space(), context)
    second = train_trial(optuna.trial.FixedTrial({}), fixed_space(), context)
    assert first == second


def test_epochs_are_reported_as_steps_and_a_hopeless_trial_is_pruned(real_subset) -> None:
    """A good trial sets the bar; a trial that cannot learn (tiny learning rate) is stopped early."""
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )
    context = TrainingContext(real_subset, max_epochs=4, seed=0)
    good = fixed_space()
    study.optimize(lambda t: train_trial(t, good, context), n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert sorted(study.trials[0].intermediate_values) == [1, 2, 3, 4]
    hopeless = fixed_space(learning_rate=1e-7, optimizer="sgd")
    study.optimize(lambda t: train_trial(t, hopeless, context), n_trials=1)
    bad = study.trials[1]
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert bad.user_attrs["epochs_run"] == 1 < context.max_epochs
    assert list(bad.intermediate_values) == [1]


def test_keras_session_is_cleared_between_trials(real_subset) -> None:
    keras = import_keras()
    context = TrainingContext(real_subset, max_epochs=1, seed=0)
    train_trial(optuna.trial.FixedTrial({}), fixed_space(), context)
    # After clear_session() the next layer gets the first auto-generated name again.
    assert keras.layers.Dense(1).name == "dense"


def test_diverging_trial_stops_without_nan_in_its_record(real_subset) -> None:
    trial = optuna.trial.FixedTrial({})
    context = TrainingContext(real_subset, max_epochs=3, seed=0)
    with pytest.raises(optuna.TrialPruned, match="diverged in epoch 1"):  # never a complete trial worth 10 %
        train_trial(
            trial,
            fixed_space(n_layers=2, units=256, learning_rate=10.0, optimizer="sgd", activation="selu", batch_size=32),
            context,
        )
    assert trial.user_attrs[DIVERGED_ATTR].startswith("the training loss became NaN or infinite in epoch 1")
    history = history_of(trial)
    assert len(history["loss"]) == 1  # stopped in the epoch it diverged
    assert all(v is None or v == v for values in history.values() for v in values)  # no NaN


def test_trials_leave_no_custom_gradients_behind(real_subset) -> None:
    """TF 2.21 keeps every traced custom gradient (and its graph) forever unless the trial drops it."""
    from search.runtime.memory import custom_gradient_names

    context = TrainingContext(real_subset, max_epochs=1, seed=0)
    space = fixed_space(activation="swish")
    train_trial(optuna.trial.FixedTrial({}), space, context)
    after_one = custom_gradient_names()
    for _ in range(2):
        train_trial(optuna.trial.FixedTrial({}), space, context)
    assert custom_gradient_names() == after_one


def test_a_trial_that_trained_to_the_end_is_never_pruned(real_subset) -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )
    context = TrainingContext(real_subset, max_epochs=1, seed=0)
    study.optimize(lambda t: train_trial(t, fixed_space(), context), n_trials=1)
    study.optimize(lambda t: train_trial(t, fixed_space(learning_rate=1e-7, optimizer="sgd"), context), n_trials=1)
    weak = study.trials[1]
    assert weak.value < study.trials[0].value  # the pruner would have pruned it at epoch 1 ...
    assert weak.state == optuna.trial.TrialState.COMPLETE  # ... but its training was already over
