"""KerasTuner's side of the keras-tuner engine: the space as a HyperModel, and Hyperband with a budget and a deadline.

KerasTuner (and Keras) are imported only when ``keras_tuner_classes`` is called, so that the
engine's module can be imported, and its options checked, without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from search.engines.coordinator import Coordinator, TrialSlot
from search.engines.divergence import diverged_in
from search.engines.record import History, add_epoch, new_history
from search.runtime import interrupts
from spaces.adapters import keras_tuner_params
from spaces.label_smoothing import targets
from spaces.schedules import ScheduleSpan, resume_at_epoch
from spaces.space import Space


@dataclass
class FitRecord:
    """What one KerasTuner fit left behind, read when its trial ends."""

    history: History = field(default_factory=new_history)
    param_count: int = 0
    seconds: float = 0.0
    initial_epoch: int = 0
    cut_short: bool = False  # stopped by the deadline before its last epoch
    diverged_at: int | None = None  # the epoch whose training loss became NaN or infinite


def keras_tuner_classes() -> tuple[type, type]:
    """The HyperModel and Tuner subclasses, defined once KerasTuner (and Keras) may be imported."""
    import keras
    import keras_tuner

    class DeadlineStop(keras.callbacks.Callback):
        """Stop at the end of an epoch once the run's time is up (unless it was the last one), or after a batch
        whose loss is not a number (search/engines/divergence.py)."""

        def __init__(self, deadline: float | None, last_epoch: int, record: FitRecord) -> None:
            super().__init__()
            self.deadline, self.last_epoch, self.record = deadline, last_epoch, record
            self.epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if diverged_in(logs):
                self.record.diverged_at = self.epoch
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            interrupts.check()  # an interrupted epoch: stop before it is recorded (KerasTuner does not catch it)
            add_epoch(self.record.history, logs)
            if self.record.diverged_at is not None:
                return
            if self.deadline is not None and epoch + 1 < self.last_epoch and time.time() >= self.deadline:
                self.record.cut_short = True
                self.model.stop_training = True

    class SpaceHyperModel(keras_tuner.HyperModel):
        """The space's builder behind KerasTuner's ``hp`` (spaces.adapters), fit with the params' batch size."""

        def __init__(self, space: Space, seed: int, deadline: float | None, span: ScheduleSpan | None = None) -> None:
            super().__init__(name=space.name)
            self.space, self.seed, self.deadline = space, seed, deadline
            self.span = span  # a learning-rate schedule spans the study's max epochs (spaces/schedules.py)
            self.builds = 0
            self.last: FitRecord | None = None

        def build(self, hp: Any) -> keras.Model:
            from search.runtime.choice import compile_options
            from spaces.builders import build_model

            # One seed per model built, as the Optuna objective seeds trial n with seed + n.
            keras.utils.set_random_seed(self.seed + self.builds)
            self.builds += 1
            return build_model(
                self.space.model, keras_tuner_params(self.space, hp), self.span, compile_options(self.space.model)
            )

        def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
            params = keras_tuner_params(self.space, hp)  # declared already: returns the trial's values
            record = FitRecord(param_count=model.count_params(), initial_epoch=int(kwargs.get("initial_epoch", 0)))
            if self.span is not None:  # a continued trial's fresh optimizer goes on where its schedule was
                resume_at_epoch(model, record.initial_epoch, self.span, params["batch_size"])
            x, y = args
            if "validation_data" in kwargs:
                x_val, y_val = kwargs["validation_data"]
                kwargs["validation_data"] = (x_val, targets(params, y_val))
            args = (x, targets(params, y))  # one-hot rows when label smoothing is on
            self.last = record
            kwargs["callbacks"] = [
                *kwargs.get("callbacks", []),
                DeadlineStop(self.deadline, int(kwargs["epochs"]), record),
            ]
            started = time.perf_counter()
            # Ctrl-C or SIGTERM ends the epoch after its current batch; DeadlineStop then stops the search.
            with interrupts.stopping_training(lambda: setattr(model, "stop_training", True)):
                history = model.fit(*args, batch_size=params["batch_size"], **kwargs)
            record.seconds = time.perf_counter() - started
            return history

    class BudgetedHyperband(keras_tuner.Hyperband):
        """Hyperband whose trials the coordinator admits: a budget slot each, none past the deadline.

        KerasTuner's oracle chooses the params; the coordinator (search/engines/coordinator.py)
        decides whether another trial runs, as it does for the Optuna engine.
        """

        def __init__(
            self,
            *,
            coordinator: Coordinator,
            deadline: float | None,
            on_trial: Callable[[Any, FitRecord | None], bool],
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self.coordinator, self.deadline, self.on_trial = coordinator, deadline, on_trial
            self.slot: TrialSlot | None = None  # held from the claim to the trial's end
            self.gradients_before: set[str] = set()

        def pre_create_trial(self) -> None:
            interrupts.check()  # a signal between two trials
            if self.slot is not None:
                return  # the oracle asked again (IDLE): the slot claimed last time is still ours
            # Waits while claims are held by trials still running, or by a killed run (reconciled).
            self.slot = self.coordinator.next_slot(self.deadline)
            if self.slot is None:
                raise SearchOver("budget spent or time up")

        def on_trial_begin(self, trial: Any) -> None:
            from search.runtime.memory import custom_gradient_names

            super().on_trial_begin(trial)
            self.hypermodel.last = None
            self.gradients_before = custom_gradient_names()

        def on_trial_end(self, trial: Any) -> None:
            from search.runtime.memory import release_trial_memory

            super().on_trial_end(trial)
            slot, self.slot = self.slot, None
            release_trial_memory(self.gradients_before)
            with slot or TrialSlot(None):
                interrupts.check()  # KerasTuner recorded an interrupted fit as a failed trial
                if self.on_trial(trial, self.hypermodel.last) and slot is not None:
                    slot.keep()

    return SpaceHyperModel, BudgetedHyperband


class SearchOver(Exception):
    """Raised between KerasTuner trials to end its search loop: budget spent or time up."""
