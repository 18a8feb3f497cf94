"""Builders make the declared depth, width and activation, take raw pixels, and end in a fixed softmax."""

from __future__ import annotations

import keras_tuner
import numpy as np
import pytest

from search.runtime.quiet import import_keras

keras = import_keras()

from spaces import load_space  # noqa: E402
from spaces.adapters import keras_tuner_params  # noqa: E402
from spaces.builders import build_model, dense_widths  # noqa: E402
from spaces.families import defaults  # noqa: E402


def layers_named(model, prefix: str, kind: type) -> list:
    return [layer for layer in model.layers if layer.name.startswith(prefix) and isinstance(layer, kind)]


@pytest.mark.parametrize(
    "n_layers, units, shape, activation",
    [(1, 64, "constant", "tanh"), (3, 100, "constant", "gelu"), (4, 256, "funnel", "selu")],
)
def test_dense_depth_width_activation(n_layers: int, units: int, shape: str, activation: str) -> None:
    params = {**defaults("dense"), "n_layers": n_layers, "units": units, "layer_shape": shape, "activation": activation}
    model = build_model("dense", params)
    hidden = layers_named(model, "hidden_", keras.layers.Dense)
    assert [layer.units for layer in hidden] == dense_widths(params)
    assert len(hidden) == n_layers and hidden[0].units == units
    if shape == "funnel":
        assert [layer.units for layer in hidden] == [256, 128, 64, 32]
    acts = layers_named(model, "hidden_", keras.layers.Activation)
    assert {layer.get_config()["activation"] for layer in acts} == {activation}


@pytest.mark.parametrize("blocks, per_block, filters, kernel, bn", [(1, 1, 8, 3, False), (3, 2, 16, 5, True)])
def test_cnn_blocks_filters_kernel_and_batch_norm(
    blocks: int, per_block: int, filters: int, kernel: int, bn: bool
) -> None:
    params = {
        **defaults("cnn"),
        "conv_blocks": blocks,
        "convs_per_block": per_block,
        "filters": filters,
        "kernel_size": kernel,
        "batch_norm": bn,
        "dense_units": 40,
    }
    model = build_model("cnn", params)
    convs = layers_named(model, "conv_", keras.layers.Conv2D)
    assert len(convs) == blocks * per_block
    assert [c.filters for c in convs] == [filters * 2**b for b in range(blocks) for _ in range(per_block)]
    assert {c.kernel_size for c in convs} == {(kernel, kernel)}
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]) == (
        blocks * per_block + 1 if bn else 0
    )
    assert model.get_layer("head").units == 40


@pytest.mark.parametrize("family", ["dense", "cnn"])
def test_raw_pixels_in_softmax_out(family: str) -> None:
    model = build_model(family, defaults(family))
    assert isinstance(model.layers[1], keras.layers.Rescaling)
    output = model.get_layer("output")
    assert output.units == 10 and output.get_config()["activation"] == "softmax"
    pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_l2_and_optimizer_are_applied() -> None:
    model = build_model("dense", {**defaults("dense"), "l2": 1e-3, "optimizer": "sgd", "learning_rate": 0.05})
    assert model.get_layer("hidden_0").kernel_regularizer is not None
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert model.optimizer.nesterov and model.optimizer.momentum == pytest.approx(0.9)


def test_builder_refuses_incomplete_or_unknown_params() -> None:
    with pytest.raises(ValueError, match="missing key"):
        build_model("dense", {"units": 8})
    with pytest.raises(ValueError, match="unknown key 'filters'"):
        build_model("dense", {**defaults("dense"), "filters": 8})


@pytest.mark.parametrize("name", ["dense", "cnn"])
def test_the_same_declaration_drives_keras_tuner(name: str) -> None:
    space = load_space(name)
    hp = keras_tuner.HyperParameters()
    params = keras_tuner_params(space, hp)
    assert set(hp.values) == set(space.searched)
    for key, param in space.searched.items():
        assert param.contains(params[key]), (key, params[key])
    build_model(space.model, params)
