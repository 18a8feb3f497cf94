"""Model builders: a plain params dict in, a compiled Keras model out.

Every model takes raw 0-255 uint8 pixels of shape (28, 28): rescaling is its first layer, so
an exported model cannot be fed unscaled images. The output (10-way softmax) and the loss are
fixed here, never by a space: a space cannot produce a model that cannot learn (the loss is
cross-entropy, with label smoothing when the params ask for it: spaces/label_smoothing.py).
Augmentation layers (spaces/augmentation.py) sit right after the rescaling and act only in
training; a learning-rate schedule (spaces/schedules.py) needs the span it runs over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from spaces import label_smoothing
from spaces.augmentation import augmentation_layers
from spaces.families import check_params
from spaces.schedules import ScheduleSpan, learning_rate
from spaces.shapes import IMAGE_SIDE, NUM_CLASSES, block_filters, dense_widths

IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE)
LOSS = label_smoothing.SPARSE_LOSS

# He initialisation suits the ReLU family, LeCun normal is what makes SELU self-normalising,
# Glorot suits the saturating ones.
_INITIALIZERS = {"selu": "lecun_normal", "tanh": "glorot_uniform", "sigmoid": "glorot_uniform"}


def build_model(
    model: str,
    params: Mapping[str, Any],
    span: ScheduleSpan | None = None,
    compile_options: Mapping[str, Any] | None = None,
) -> keras.Model:
    """Build and compile a ``dense`` or ``cnn`` model from a complete params dict.

    ``span`` (epochs and training images) is what a learning-rate schedule runs over; a params
    dict with ``lr_schedule = "constant"`` does not need it. ``compile_options``: more keyword
    arguments of ``Model.compile`` that change how fast it runs on this machine, never what it
    learns (``search.runtime.choice.compile_options``); None keeps Keras' defaults.
    """
    check_params(model, params)
    inputs = keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    augmentation = augmentation_layers(params)
    if augmentation or model == "cnn":
        x = keras.layers.Reshape((*IMAGE_SHAPE, 1), name="channel")(x)
    for layer in augmentation:
        x = layer(x)
    if model == "dense":
        x = _dense_body(x, params)
    else:
        x = _cnn_body(x, params)
    # float32 whatever the dtype policy: a softmax in bfloat16 would round the probabilities.
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output", dtype="float32")(x)
    net = keras.Model(inputs, outputs, name=model)
    optimizer = make_optimizer(params["optimizer"], learning_rate(params, span))
    net.compile(optimizer=optimizer, loss=label_smoothing.loss(params), metrics=["accuracy"], **(compile_options or {}))
    return net


def make_optimizer(name: str, rate: Any) -> keras.optimizers.Optimizer:
    """The optimizer of a params dict (``rate``: a float or a schedule); SGD always gets Nesterov momentum 0.9."""
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=0.9, nesterov=True)
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
    }
    return optimizers[name](learning_rate=rate)


def _layer_options(params: Mapping[str, Any]) -> dict[str, Any]:
    l2 = params["l2"]
    return {
        "kernel_initializer": _INITIALIZERS.get(params["activation"], "he_normal"),
        "kernel_regularizer": keras.regularizers.L2(l2) if l2 > 0 else None,
    }


def _activate(x: Any, params: Mapping[str, Any], name: str) -> Any:
    """Batch norm (when on) goes between the linear layer and its activation."""
    if params["batch_norm"]:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation(params["activation"], name=f"{name}_act")(x)


def _dense_body(x: Any, params: Mapping[str, Any]) -> Any:
    x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(dense_widths(params)):
        x = keras.layers.Dense(width, use_bias=not params["batch_norm"], name=f"hidden_{i}", **_layer_options(params))(
            x
        )
        x = _activate(x, params, f"hidden_{i}")
        if params["dropout"] > 0:
            x = keras.layers.Dropout(params["dropout"], name=f"hidden_{i}_dropout")(x)
    return x


def _cnn_body(x: Any, params: Mapping[str, Any]) -> Any:
    for block, filters in enumerate(block_filters(params)):
        for i in range(params["convs_per_block"]):
            name = f"conv_{block}_{i}"
            x = keras.layers.Conv2D(
                filters,
                params["kernel_size"],
                padding="same",
                use_bias=not params["batch_norm"],
                name=name,
                **_layer_options(params),
            )(x)
            x = _activate(x, params, name)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{block}")(x)
        if params["dropout"] > 0:
            x = keras.layers.Dropout(params["dropout"], name=f"pool_{block}_dropout")(x)
    if params["head"] == "gap":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(
        params["dense_units"], use_bias=not params["batch_norm"], name="head", **_layer_options(params)
    )(x)
    x = _activate(x, params, "head")
    if params["dropout"] > 0:
        x = keras.layers.Dropout(params["dropout"], name="head_dropout")(x)
    return x
