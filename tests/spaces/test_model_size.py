"""A space's parameter count comes from the builders' own arithmetic; a monster space is refused before training."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spaces.families import defaults
from spaces.model_size import DEFAULT_MAX_PARAMS, SIZE_KEYS, check_model_size, count_params, largest_model
from spaces.params import SpaceError
from spaces.space import load_space, space_from_data
from tests.search.cli_helpers import assert_one_line_error, invoke

MONSTER = (
    'name = "monster"\nmodel = "cnn"\n[params]\n'
    "conv_blocks = 4\nconvs_per_block = 4\nfilters = 1024\nkernel_size = 7\ndense_units = 8192\n"
)

dense_params = st.fixed_dictionaries({
    "n_layers": st.integers(1, 4), "units": st.integers(1, 64), "layer_shape": st.sampled_from(["constant", "funnel"]),
    "batch_norm": st.booleans(),
})  # fmt: skip
cnn_params = st.fixed_dictionaries({
    "conv_blocks": st.integers(1, 4), "convs_per_block": st.integers(1, 2), "filters": st.integers(1, 8),
    "kernel_size": st.integers(1, 5), "dense_units": st.integers(1, 32), "batch_norm": st.booleans(),
    "head": st.sampled_from(["flatten", "gap"]),
})  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(st.one_of(dense_params.map(lambda p: ("dense", p)), cnn_params.map(lambda p: ("cnn", p))))
def test_count_matches_the_built_model(case: tuple[str, dict]) -> None:
    from spaces.builders import build_model

    model, size = case
    params = {**defaults(model), **size}
    assert count_params(model, params) == build_model(model, params).count_params()


def test_largest_model_is_the_largest_of_every_combination() -> None:
    """Brute force over a small space: more conv blocks can mean fewer parameters, and the search must know it."""
    space = space_from_data({"model": "cnn", "params": {
        "conv_blocks": {"type": "int", "low": 1, "high": 4}, "convs_per_block": [1, 2], "filters": [8, 16],
        "kernel_size": [3, 5], "dense_units": {"type": "int", "low": 16, "high": 300, "step": 7},
        "batch_norm": [False, True], "head": ["flatten", "gap"],
    }}, "small")  # fmt: skip
    grid = {key: (list(range(16, 301, 7)) if key == "dense_units" else [1, 2, 3, 4] if key == "conv_blocks" else
                  list(space.params[key].choices)) for key in SIZE_KEYS["cnn"]}  # fmt: skip
    brute = max(
        count_params("cnn", {**defaults("cnn"), **dict(zip(grid, values, strict=True))})
        for values in itertools.product(*grid.values())
    )
    count, chosen = largest_model(space)
    assert (
        count == brute and chosen["conv_blocks"] == 1 and chosen["head"] == "flatten"
    )  # one block: the head sees a 14x14 map


def test_built_in_spaces_fit_the_default_limit() -> None:
    for name in ("dense", "cnn"):
        check_model_size(load_space(name))
        assert largest_model(load_space(name))[0] < DEFAULT_MAX_PARAMS / 10


def test_the_monster_space_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    space = tmp_path / "monster.toml"
    space.write_text(MONSTER)
    with pytest.raises(SpaceError, match="15,327,237,130 parameters"):
        check_model_size(load_space(str(space)))
    db = tmp_path / "x.db"
    result = invoke("start", "--space", str(space), "--storage", f"sqlite:///{db}")
    assert_one_line_error(result, "monster", "parameters", "--max-params")
    assert not db.exists()


def test_the_limit_can_be_lowered_or_raised(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert_one_line_error(
        invoke("start", "--space", "cnn", "--max-params", "100000", "--storage", f"sqlite:///{db}"), "100,000"
    )
    assert not db.exists()
    space = tmp_path / "monster.toml"
    space.write_text(MONSTER)
    check_model_size(load_space(str(space)), limit=16_000_000_000)
