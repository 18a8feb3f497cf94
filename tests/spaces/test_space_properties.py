"""Property-based tests: any valid declaration loads and samples inside its ranges; any impossible one fails."""

from __future__ import annotations

import math

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spaces import SpaceError, space_from_data
from spaces.adapters import suggest
from spaces.families import check_params
from spaces.params import FloatParam, IntParam, param_from_data

int_ranges = st.tuples(st.integers(1, 4), st.integers(0, 3)).map(
    lambda t: {"type": "int", "low": t[0], "high": min(4, t[0] + t[1])}
)
units = st.tuples(st.integers(1, 512), st.integers(0, 512), st.booleans()).map(
    lambda t: {"type": "int", "low": t[0], "high": t[0] + t[1], "log": t[2]}
)
rates = st.tuples(st.floats(1e-6, 1.0), st.floats(1.0, 5.0)).map(
    lambda t: {"type": "float", "low": t[0], "high": min(10.0, t[0] * t[1]), "log": True}
)
dropouts = st.tuples(st.floats(0.0, 0.8), st.floats(0.0, 0.1)).map(
    lambda t: {"type": "float", "low": t[0], "high": t[0] + t[1]}
)
activations = st.lists(
    st.sampled_from(["relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid"]), min_size=1, unique=True
)


@st.composite
def cnn_spaces(draw: st.DrawFn) -> dict:
    params = {}
    for key, strategy in (
        ("conv_blocks", int_ranges),
        ("filters", units),
        ("dense_units", units),
        ("learning_rate", rates),
        ("dropout", dropouts),
        ("activation", activations),
        ("batch_norm", st.lists(st.booleans(), min_size=1, max_size=2, unique=True)),
    ):
        if draw(st.booleans()):
            params[key] = draw(strategy)
    return {"model": "cnn", "params": params}


@settings(max_examples=60, deadline=None)
@given(cnn_spaces(), st.integers(0, 2**31))
def test_valid_spaces_load_and_every_sample_is_buildable(data: dict, seed: int) -> None:
    space = space_from_data(data, "generated")
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    params = suggest(space, trial)
    check_params("cnn", params)  # raises if the builder would refuse it
    for name, param in space.searched.items():
        assert param.contains(params[name]), (name, params[name])


@settings(max_examples=80, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.booleans())
def test_float_ranges_are_accepted_exactly_when_possible(low: float, high: float, log: bool) -> None:
    possible = low <= high and (not log or low > 0)
    entry = {"type": "float", "low": low, "high": high, "log": log}
    if possible:
        assert isinstance(param_from_data("x", entry), FloatParam)
    else:
        with pytest.raises(SpaceError, match="x"):
            param_from_data("x", entry)


@settings(max_examples=80, deadline=None)
@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-2, 4), st.booleans())
def test_int_ranges_are_accepted_exactly_when_possible(low: int, high: int, step: int, log: bool) -> None:
    possible = low <= high and (not log or low > 0) and step >= 1 and (not log or step == 1)
    entry = {"type": "int", "low": low, "high": high, "step": step, "log": log}
    if possible:
        assert isinstance(param_from_data("n", entry), IntParam)
    else:
        with pytest.raises(SpaceError, match="n:"):
            param_from_data("n", entry)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["units", "n_layers", "dropout", "learning_rate"]), st.floats(-100, 1e5).filter(math.isfinite))
def test_out_of_family_bounds_are_refused_with_the_key(key: str, value: float) -> None:
    from spaces.families import FAMILIES

    spec = FAMILIES["dense"][key]
    if spec.kind == "int":
        value = int(value)
    entry = {"type": spec.kind, "low": value, "high": value}
    fits = spec.low <= value <= spec.high
    if fits:
        space_from_data({"model": "dense", "params": {key: entry}}, "x")
    else:
        with pytest.raises(SpaceError, match=f"params.{key}"):
            space_from_data({"model": "dense", "params": {key: entry}}, "x")


@settings(max_examples=30, deadline=None)
@given(cnn_spaces())
def test_to_data_round_trips(data: dict) -> None:
    space = space_from_data(data, "generated")
    assert space_from_data(space.to_data(), "other") == space
