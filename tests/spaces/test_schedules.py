"""Learning-rate schedules: their shapes, their span, and resuming one at an epoch."""

from __future__ import annotations

import numpy as np
import pytest

from search.runtime.quiet import import_keras

keras = import_keras()

from spaces.builders import build_model  # noqa: E402
from spaces.families import defaults  # noqa: E402
from spaces.schedules import (  # noqa: E402
    COSINE_WARMUP,
    ONE_CYCLE_END,
    ONE_CYCLE_RISE,
    ONE_CYCLE_START,
    ScheduleSpan,
    learning_rate,
    resume_at_epoch,
)

PEAK = 0.01


def rates(schedule: str, span: ScheduleSpan, batch_size: int = 10) -> np.ndarray:
    rate = learning_rate({"learning_rate": PEAK, "lr_schedule": schedule, "batch_size": batch_size}, span)
    return np.array([float(rate(step)) for step in range(span.steps(batch_size) + 1)])


def test_constant_is_a_plain_rate_and_needs_no_span() -> None:
    assert learning_rate({"learning_rate": PEAK, "batch_size": 32}, None) == PEAK  # a params dict from before schedules
    assert learning_rate({"learning_rate": PEAK, "lr_schedule": "constant", "batch_size": 32}, None) == PEAK


def test_cosine_warms_up_from_zero_then_decays_to_zero() -> None:
    curve = rates("cosine", ScheduleSpan(epochs=10, images=100))  # 100 steps
    warmup = round(COSINE_WARMUP * 100)
    assert curve[0] == 0.0 and curve[warmup] == pytest.approx(PEAK) and curve.max() == pytest.approx(PEAK)
    assert np.all(np.diff(curve[: warmup + 1]) > 0) and np.all(np.diff(curve[warmup:]) <= 1e-9)
    assert curve[-1] == pytest.approx(0.0, abs=1e-9)


def test_one_cycle_rises_from_a_25th_then_anneals_far_below() -> None:
    curve = rates("one_cycle", ScheduleSpan(epochs=10, images=100))
    rise = round(ONE_CYCLE_RISE * 100)
    assert curve[0] == pytest.approx(PEAK / ONE_CYCLE_START) and curve[rise] == pytest.approx(PEAK)
    assert curve[-1] == pytest.approx(PEAK / ONE_CYCLE_END, rel=1e-3)


def test_the_span_is_epochs_of_the_images_given_so_the_curve_over_epochs_ignores_the_image_count() -> None:
    """55,000 images in the search, 60,000 in the export: the rate at a given epoch is the same."""
    small, large = ScheduleSpan(epochs=4, images=550), ScheduleSpan(epochs=4, images=600)
    a, b = rates("cosine", small), rates("cosine", large)
    for epoch in range(5):
        assert a[epoch * small.steps_per_epoch(10)] == pytest.approx(
            b[epoch * large.steps_per_epoch(10)], abs=1e-4 * PEAK
        )
    assert ScheduleSpan(3, 101).steps_per_epoch(10) == 11  # Keras's short last batch is a step


def test_a_schedule_without_its_span_or_with_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the span"):
        build_model("dense", {**defaults("dense"), "lr_schedule": "cosine"})
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate({"learning_rate": PEAK, "lr_schedule": "step", "batch_size": 1}, ScheduleSpan(1, 1))
    with pytest.raises(ValueError, match="at least one epoch"):
        ScheduleSpan(0, 10)


def test_tiny_spans_still_make_a_schedule() -> None:
    for schedule in ("cosine", "one_cycle"):
        curve = rates(schedule, ScheduleSpan(epochs=1, images=10))  # one step in all
        assert np.all(np.isfinite(curve)) and curve.max() <= PEAK + 1e-12


def test_a_resumed_model_goes_on_where_its_schedule_was() -> None:
    """KerasTuner continues a promoted trial in a fresh model: its schedule must not restart."""
    span = ScheduleSpan(epochs=6, images=100)
    params = {
        **defaults("dense"),
        "n_layers": 1,
        "units": 4,
        "lr_schedule": "cosine",
        "learning_rate": PEAK,
        "batch_size": 10,
    }
    model = build_model("dense", params, span)
    resume_at_epoch(model, 3, span, 10)
    assert int(model.optimizer.iterations) == 30
    assert float(model.optimizer.learning_rate) == pytest.approx(rates("cosine", span)[30])
    fresh = build_model("dense", params, span)
    resume_at_epoch(fresh, 0, span, 10)
    assert int(fresh.optimizer.iterations) == 0
