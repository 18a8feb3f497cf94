"""The seed catalog: every model of SEED_BASELINES.md, built as its report describes, and where it fits a space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spaces.params import SpaceError
from spaces.seeds import SEEDS_FILE, build_seed_model, load_seeds, select_seeds, warm_start_params
from spaces.space import load_space

# Every model the brief's SEED_BASELINES.md lists, by id.
SEED_IDS = [
    "s000-dense", "s000-cnn", "s001-scratch", "s001-dense", "s001-cnn", "s002-dense-sgd",
    "s002-dense-adam", "s002-cnn", "s003-cnn", "s004-dense", "s004-cnn",
]  # fmt: skip


def by_id(seed_id: str):
    return next(s for s in load_seeds() if s.id == seed_id)


def test_the_catalog_holds_every_seed_model() -> None:
    assert [s.id for s in load_seeds()] == SEED_IDS


@pytest.mark.parametrize(
    ("seed_id", "params"), [("s001-dense", 109_386), ("s001-cnn", 106_202), ("s000-dense", 266_610)]
)
def test_models_have_the_parameter_count_their_report_gives(seed_id: str, params: int) -> None:
    """s001 states its counts; s000's follows from 784-300-100-10. A wrong layer list changes them."""
    assert build_seed_model(by_id(seed_id)).count_params() == params


@pytest.mark.parametrize("seed_id", SEED_IDS)
def test_every_seed_model_takes_raw_pixels_and_outputs_probabilities(seed_id: str) -> None:
    model = build_seed_model(by_id(seed_id))
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    probabilities = np.asarray(model(pixels))
    assert probabilities.shape == (3, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert model.layers[1].name == "rescale"  # the mistake of s004 (unscaled test images) cannot happen


def test_warm_start_takes_the_seeds_that_fit_the_built_in_spaces() -> None:
    fitting, skipped = warm_start_params(load_seeds(), load_space("dense"))
    assert [seed_id for seed_id, _ in fitting] == ["s000-dense", "s001-dense", "s002-dense-sgd"]
    params = dict(fitting)["s000-dense"]
    assert set(params) == set(load_space("dense").searched) and params["units"] == 300 and params["l2"] == 1e-4
    assert any(reason.startswith("s002-dense-adam: n_layers=5") for reason in skipped)
    cnn_fitting, _ = warm_start_params(load_seeds(), load_space("cnn"))
    assert [seed_id for seed_id, _ in cnn_fitting] == ["s002-cnn", "s004-cnn"]


def test_warm_start_respects_a_users_narrower_space(tmp_path: Path) -> None:
    space_file = tmp_path / "sgd-only.toml"
    space_file.write_text(
        'model = "dense"\n[params]\noptimizer = "sgd"\nunits = { type = "int", low = 64, high = 512 }\n'
        'learning_rate = { type = "float", low = 1e-3, high = 0.1, log = true }\n',
        encoding="utf-8",
    )
    fitting, skipped = warm_start_params(load_seeds(), load_space(str(space_file)))
    assert fitting == [("s002-dense-sgd", {"units": 256, "learning_rate": 0.025})]
    assert any(reason.startswith("s000-dense: optimizer='adam'") for reason in skipped)


def test_unknown_seed_ids_are_refused() -> None:
    assert [s.id for s in select_seeds(load_seeds(), ["s004-cnn", "s000-dense"])] == ["s000-dense", "s004-cnn"]
    with pytest.raises(SpaceError, match="unknown seed id 'nope'"):
        select_seeds(load_seeds(), ["nope"])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '{ type = "dense", units = 300, activation = "relu", l2 = 1e-4 },',
            '{ type = "dense", activation = "relu" },',
            "needs 'units'",
        ),
        ('{ type = "pool", size = 2 },', '{ type = "pooling", size = 2 },', "type must be one of"),
        ('activation = "tanh" }', 'activation = "softplus" }', "activation: must be one of"),
        ('optimizer = "adam", learning_rate = 1e-4', 'optimizer = "lbfgs", learning_rate = 1e-4', "training.optimizer"),
        ('id = "s004-cnn"', 'id = "s004-dense"', "appears twice"),
        ("space_params = { n_layers = 2, units = 300", "space_params = { n_layers = 2, units = -3", "space_params"),
    ],
)
def test_a_bad_catalog_entry_is_one_line_naming_it(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = SEEDS_FILE.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "seeds.toml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpaceError, match=message) as caught:
        load_seeds(broken)
    assert "\n" not in str(caught.value)
