"""The recipe keys in space files: the built-ins search them, bad ranges are one line, the seeds still fit,
KerasTuner covers them."""

from __future__ import annotations

from pathlib import Path

import keras_tuner
import pytest

from spaces import Choice, SpaceError, load_space
from spaces.adapters import keras_tuner_params, suggest
from spaces.families import LATER_KEYS, defaults, with_later_keys
from spaces.seeds import load_seeds, warm_start_params

RECIPE = {"translate", "flip", "cutout", "lr_schedule", "label_smoothing"}
OFF = {"translate": 0, "flip": False, "cutout": 0, "lr_schedule": "constant", "label_smoothing": 0.0}


@pytest.mark.parametrize("name", ["dense", "cnn"])
def test_built_in_spaces_search_the_recipe_with_off_among_the_choices(name: str) -> None:
    space = load_space(name)
    assert RECIPE <= set(space.searched)
    for key, off in OFF.items():
        assert space.params[key].contains(off), key  # so the seeds' warm starts (recipe off) still fit
        assert defaults(name)[key] == off  # a key a user's file leaves out is off
    assert set(space.params["lr_schedule"].choices) == {"constant", "cosine", "one_cycle"}
    if name == "cnn":
        assert set(space.params["head"].choices) == {"flatten", "gap"} and defaults("cnn")["head"] == "flatten"
        assert max(space.params["filters"].choices) > 64 and space.params["convs_per_block"].high == 2


@pytest.mark.parametrize(
    "line, names",
    [
        ('translate = { type = "int", low = 0, high = 30 }', ("params.translate", "[0, 8]", "30")),
        ('translate = { type = "int", low = -2, high = 2 }', ("params.translate", "-2")),
        ('cutout = { type = "int", low = 4, high = 2 }', ("params.cutout", "low must not exceed high")),
        ("cutout = [0, 8, 28]", ("params.cutout", "28")),
        ('flip = { type = "int", low = 0, high = 1 }', ("params.flip", "choice")),
        ('lr_schedule = ["constant", "step"]', ("params.lr_schedule", "'step'", "one_cycle")),
        ('label_smoothing = { type = "float", low = 0.0, high = 0.9 }', ("params.label_smoothing", "0.9")),
        ('label_smoothing = { type = "float", low = -0.1, high = 0.1 }', ("params.label_smoothing", "-0.1")),
        ('head = ["flatten", "avg"]', ("params.head", "'avg'")),
    ],
)
def test_an_impossible_recipe_range_is_one_line_naming_the_key(
    tmp_path: Path, line: str, names: tuple[str, ...]
) -> None:
    model = "cnn" if line.startswith("head") else "dense"
    path = tmp_path / "bad.toml"
    path.write_text(f'model = "{model}"\n[params]\n{line}\n')
    with pytest.raises(SpaceError) as caught:
        load_space(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for name in names:
        assert name in message, message


def test_head_is_a_cnn_key_only(tmp_path: Path) -> None:
    path = tmp_path / "dense-gap.toml"
    path.write_text('model = "dense"\n[params]\nhead = "gap"\n')
    with pytest.raises(SpaceError, match="params.head: unknown key for a dense model"):
        load_space(str(path))


def test_the_seeds_warm_starts_still_fit_and_start_with_the_recipe_off() -> None:
    for name, expected in (
        ("dense", ["s000-dense", "s001-dense", "s002-dense-sgd"]),
        ("cnn", ["s002-cnn", "s004-cnn"]),
    ):
        fitting, _ = warm_start_params(load_seeds(), load_space(name))
        assert [seed_id for seed_id, _ in fitting] == expected
        for _, params in fitting:
            assert {key: params[key] for key in OFF} == OFF
            if name == "cnn":
                assert params["head"] == "flatten"


def test_a_params_dict_from_before_the_recipe_means_the_recipe_off() -> None:
    old = {key: value for key, value in defaults("cnn").items() if key not in LATER_KEYS}
    assert with_later_keys("cnn", old) == defaults("cnn")
    assert with_later_keys("dense", {"translate": 2}) == {**OFF, "translate": 2}
    assert with_later_keys("cnn", {"head": "gap"})["head"] == "gap"


@pytest.mark.parametrize("name", ["dense", "cnn"])
def test_keras_tuner_and_optuna_declare_the_recipe_alike(name: str) -> None:
    import optuna

    space = load_space(name)
    hp = keras_tuner.HyperParameters()
    params = keras_tuner_params(space, hp)
    declared = {p.name: p for p in hp.space}
    assert RECIPE <= set(declared)
    assert isinstance(declared["flip"], keras_tuner.engine.hyperparameters.Boolean) and params["flip"] is False
    assert list(declared["lr_schedule"].values) == list(space.params["lr_schedule"].choices)
    assert list(declared["label_smoothing"].values) == list(space.params["label_smoothing"].choices)
    trial = optuna.create_study().ask()
    sampled = suggest(space, trial)
    assert all(space.params[key].contains(sampled[key]) for key in RECIPE)
    assert isinstance(space.params["cutout"], Choice)
