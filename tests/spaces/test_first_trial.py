"""The first trial of a new study: the family defaults, moved into the space."""

from __future__ import annotations

from spaces.families import defaults
from spaces.first_trial import default_point
from spaces.space import load_space, space_from_data


def test_the_built_in_dense_space_starts_from_the_family_defaults() -> None:
    point = default_point(load_space("dense"))
    family = defaults("dense")
    assert point["units"] == family["units"] and point["batch_size"] == family["batch_size"]
    assert point["l2"] == load_space("dense").searched["l2"].low  # 0 is outside the range: its nearest bound
    assert set(point) == set(load_space("dense").searched)


def test_a_default_outside_the_space_moves_to_the_nearest_bound_or_is_left_to_the_sampler() -> None:
    space = space_from_data(
        {"model": "dense", "params": {
            "units": {"type": "int", "low": 400, "high": 1000, "step": 100},
            "dropout": {"type": "float", "low": 0.3, "high": 0.5},
            "optimizer": {"type": "choice", "choices": ["sgd", "rmsprop"]},
        }},
        "narrow",
    )  # fmt: skip
    assert default_point(space) == {"units": 400, "dropout": 0.3}


def test_every_point_is_inside_its_space() -> None:
    for name in ("dense", "cnn"):
        space = load_space(name)
        for key, value in default_point(space).items():
            assert space.searched[key].contains(value), (name, key, value)
