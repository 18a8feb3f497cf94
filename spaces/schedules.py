"""Learning-rate schedules over a trial's epochs, and the one rule that makes them fair under Hyperband.

A space's ``lr_schedule`` is one of:

- ``constant``: ``learning_rate`` throughout (what every model had before schedules existed);
- ``cosine``: a linear warm-up from 0 to ``learning_rate`` over the first ``COSINE_WARMUP`` of the
  steps, then cosine decay to 0 (Loshchilov & Hutter; the warm-up as in Goyal et al.);
- ``one_cycle``: a linear rise from ``learning_rate / 25`` to ``learning_rate`` over the first
  ``ONE_CYCLE_RISE`` of the steps, then cosine annealing to ``learning_rate / 1e5`` (Smith's
  one-cycle policy with fastai's start and end values, without momentum cycling).

With a schedule, ``learning_rate`` is the peak rate.

**A schedule always spans the study's maximum epochs (``--epochs``), never the epochs a trial
happens to run.** The pruners stop a trial at any epoch, and Optuna's Hyperband never restarts
one: a trial that survives a rung simply keeps training. A trial's learning rate at epoch k
therefore cannot depend on whether it is stopped at k, because that is decided after epoch k.
Spanning the maximum makes a trial's first k epochs identical whether it is pruned at rung k or
promoted to the end, so every trial compared at a rung has had the same schedule up to it (the
same fraction of its warm-up, the same decay so far), and the comparison is fair. A pruned trial
never reaches the low-rate end of its schedule; neither does any trial it is compared with.
KerasTuner's Hyperband, which continues a promoted trial from a checkpoint, resumes the same
schedule at that epoch (``resume_at_epoch``).

Export retrains for the epoch at which the trial peaked, ``best_epoch`` (at most the maximum),
**under the same schedule over the study's maximum epochs**, and stops there: it repeats the
first ``best_epoch`` epochs of the run whose validation accuracy chose that epoch count, with the
learning rate the search measured at each epoch. (A schedule squeezed into ``best_epoch`` epochs
would decay sooner and end at a rate the search never validated.) The config records it as
``schedule_epochs``. The schedule is a function of the fraction of the span done, so it is the
same over epochs whatever the number of images (55,000 in the search, 60,000 in the export).

The schedules are Keras's own ``CosineDecay`` (with its warm-up), so a saved model loads with
``keras.saving.load_model(path, safe_mode=True)`` and nothing of this package imported, on every
backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("constant", "cosine", "one_cycle")
COSINE_WARMUP = 0.1  # fraction of the span; short, so most of it is decay
ONE_CYCLE_RISE = 0.3  # fraction of the span (Smith; fastai's pct_start is 0.25-0.3)
ONE_CYCLE_START = 25.0  # the rise starts at learning_rate / 25 (fastai's div)
ONE_CYCLE_END = 1e5  # and the annealing ends at learning_rate / 1e5 (fastai: div * final_div = 25 * 1e4)


@dataclass(frozen=True)
class ScheduleSpan:
    """What a learning-rate schedule spans: ``epochs`` epochs over ``images`` training images."""

    epochs: int
    images: int

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.images < 1:
            raise ValueError(
                f"a schedule spans at least one epoch of one image, but got epochs={self.epochs}, images={self.images}"
            )

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one epoch: Keras's last batch may be short, and it counts."""
        return math.ceil(self.images / batch_size)

    def steps(self, batch_size: int) -> int:
        return self.epochs * self.steps_per_epoch(batch_size)


def learning_rate(params: Mapping[str, Any], span: ScheduleSpan | None) -> Any:
    """The optimizer's ``learning_rate``: a float for ``constant``, else a Keras schedule over ``span``."""
    rate = float(params["learning_rate"])
    name = params.get("lr_schedule", "constant")
    if name == "constant":
        return rate
    if name not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {list(SCHEDULES)}, but got {name!r}")
    if span is None:
        raise ValueError(f"lr_schedule {name!r} needs the span it runs over (epochs and training images)")
    import keras

    total = span.steps(int(params["batch_size"]))
    if name == "cosine":
        warmup = min(total - 1, round(COSINE_WARMUP * total))
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, alpha=0.0, warmup_target=rate, warmup_steps=warmup, name="cosine"
        )
    rise = min(total - 1, max(1, round(ONE_CYCLE_RISE * total)))
    return keras.optimizers.schedules.CosineDecay(
        rate / ONE_CYCLE_START,
        decay_steps=total - rise,
        alpha=1.0 / ONE_CYCLE_END,
        warmup_target=rate,
        warmup_steps=rise,
        name="one_cycle",
    )


def resume_at_epoch(model: Any, epoch: int, span: ScheduleSpan, batch_size: int) -> None:
    """Start a fresh model's schedule at ``epoch``: a continued trial goes on where its schedule was.

    A schedule reads the optimizer's step counter, which a weights-only checkpoint does not keep.
    """
    if epoch > 0:
        model.optimizer.iterations.assign(epoch * span.steps_per_epoch(batch_size))
