"""The objective: sample params, build the model, train epoch by epoch, report, prune, clean up.

The data is loaded once per worker and handed in; a trial never reads files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import keras
import optuna

from search.data.loader import TrainValData
from search.engines.deadline import DeadlineReached
from search.engines.divergence import DIVERGED_ATTR, diverged_in, divergence_message
from search.engines.interface import EpochListener
from search.engines.record import add_epoch, new_history, result_attrs, runner_attrs, save_history
from search.runtime import interrupts
from search.runtime.choice import compile_options
from search.runtime.memory import custom_gradient_names, release_trial_memory
from spaces.adapters import suggest
from spaces.builders import build_model
from spaces.label_smoothing import targets
from spaces.schedules import ScheduleSpan
from spaces.space import Space


@dataclass(frozen=True)
class TrainingContext:
    """What every trial of one worker shares."""

    data: TrainValData
    max_epochs: int
    seed: int = 0
    worker_id: int = 0
    device: str = "cpu"
    deadline: float | None = None  # time.time() at which the run's --timeout ends


class _ReportAndPrune(keras.callbacks.Callback):
    """Report validation accuracy after each epoch (step = epochs done) and stop when told to prune."""

    def __init__(self, trial: optuna.Trial, context: TrainingContext, listener: EpochListener | None) -> None:
        super().__init__()
        self.trial = trial
        self.max_epochs = context.max_epochs
        self.deadline = context.deadline
        self.listener = listener
        self.timed_out_at: int | None = None
        self.history = new_history()
        self.pruned_at: int | None = None
        self.diverged_at: int | None = None  # the epoch whose training loss became NaN or infinite
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if diverged_in(logs):
            self.diverged_at = self._epoch
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        interrupts.check()  # Ctrl-C or SIGTERM cut this epoch short: stop here, before it is reported
        logs = logs or {}
        val_accuracy = add_epoch(self.history, logs)
        if self.diverged_at is not None:
            return  # the weights are NaN: nothing to report, the trial ends as diverged (train_trial)
        step = epoch + 1
        self.trial.report(val_accuracy or 0.0, step)
        if self.listener:
            self.listener(self.trial.number, step, self.max_epochs, logs)
        if step == self.max_epochs:
            return  # trained to the end: pruning now would only throw a finished result away
        if self.trial.should_prune():
            self.pruned_at = step
            self.model.stop_training = True
        elif self.deadline is not None and time.time() >= self.deadline:
            self.timed_out_at = step
            self.model.stop_training = True


def _fit(
    space: Space, params: dict[str, Any], data: TrainValData, max_epochs: int, reporter: _ReportAndPrune
) -> tuple[float, int]:
    """Build and train the model; return (train seconds, parameter count). Nothing of it outlives the call.

    A learning-rate schedule spans ``max_epochs`` whatever epoch the pruner stops the trial at,
    so a trial's first k epochs are the same whether or not it is promoted past k (spaces/schedules.py).
    """
    model = build_model(space.model, params, ScheduleSpan(max_epochs, len(data.x_train)), compile_options(space.model))
    started = time.perf_counter()
    try:
        # Ctrl-C or SIGTERM ends the epoch after its current batch; the reporter then stops the trial.
        with interrupts.stopping_training(lambda: setattr(model, "stop_training", True)):
            model.fit(
                data.x_train,
                targets(params, data.y_train),
                batch_size=params["batch_size"],
                epochs=max_epochs,
                validation_data=(data.x_val, targets(params, data.y_val)),
                callbacks=[reporter],
                verbose=0,
            )
        return time.perf_counter() - started, model.count_params()
    finally:
        reporter.set_model(None)  # the callback must not keep the model alive past this call


def train_trial(
    trial: optuna.Trial, space: Space, context: TrainingContext, listener: EpochListener | None = None
) -> float:
    """Train one sampled model; return its best validation accuracy over the epochs run.

    Records per-trial user attributes (epochs run, best epoch, parameter count, train seconds,
    worker id, device, the per-epoch history) and raises ``optuna.TrialPruned`` when pruned.
    """
    params = suggest(space, trial)
    # Who runs it is known from the start, so a live display can show it while it trains.
    for key, value in runner_attrs(context.worker_id, context.device).items():
        trial.set_user_attr(key, value)
    # One seed per trial number: re-running trial n of a seeded study re-creates its weights.
    keras.utils.set_random_seed(context.seed + trial.number)
    gradients_before = custom_gradient_names()
    reporter = _ReportAndPrune(trial, context, listener)
    try:
        seconds, param_count = _fit(space, params, context.data, context.max_epochs, reporter)
    finally:
        # The model lived only inside _fit: free its graph and weights now, so that over a
        # long study memory stays flat.
        release_trial_memory(gradients_before)
    attrs = result_attrs(reporter.history, param_count, seconds)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    save_history(trial, reporter.history)
    if reporter.diverged_at is not None:
        trial.set_user_attr(DIVERGED_ATTR, divergence_message(reporter.diverged_at))
        raise optuna.TrialPruned(f"diverged in epoch {reporter.diverged_at}")
    if reporter.timed_out_at is not None:
        raise DeadlineReached(f"time ran out after epoch {reporter.timed_out_at} of {context.max_epochs}")
    if reporter.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned after epoch {reporter.pruned_at}")
    if not attrs["best_epoch"]:
        raise RuntimeError("training ran no epoch")
    return reporter.history["val_accuracy"][attrs["best_epoch"] - 1] or 0.0
