"""Data augmentation inside the model, active only while training: translation, horizontal flip, cutout.

Each key is off at its default, and a model without augmentation has no augmentation layer at
all (it is the model built before these keys existed):

- ``translate``: shift each training image by up to this many pixels, independently up and down
  and left and right, filling with background (0). 0 is off.
- ``flip``: mirror half of the training images left to right (garments are nearly symmetric;
  the benchmark table's best small models use flips).
- ``cutout``: with probability ``CUTOUT_PROBABILITY``, blank a square of this side in pixels at a
  random place inside the image (DeVries & Taylor's cutout, with Zhong et al.'s random-erasing
  probability). 0 is off. One magnitude with 0 for off keeps the space flat: the format has no
  conditional parameters, and a "cutout on" flag with a size that means nothing when it is off
  would only give the sampler a dimension to waste trials on.

The layers are Keras's own (``RandomTranslation``, ``RandomFlip``, ``RandomErasing`` with a fixed
size and a fixed probability), which are identities at inference: an exported model predicts
the same before and after a save and load, and loads with ``safe_mode=True`` without any of this
package imported, on every backend. They add no weights, so the parameter count is unchanged.
They act on the rescaled pixels (0 to 1), after the rescaling layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spaces.shapes import IMAGE_SIDE

AUGMENTATION_KEYS = ("translate", "flip", "cutout")
MAX_TRANSLATE = 8  # pixels; further, a 28x28 garment leaves the frame
MAX_CUTOUT = 20  # pixels; a 20x20 square hides half of the image
CUTOUT_PROBABILITY = 0.5


def augmented(params: Mapping[str, Any]) -> bool:
    """Whether the params ask for any augmentation (keys missing from an old params dict are off)."""
    return bool(params.get("translate", 0) or params.get("flip", False) or params.get("cutout", 0))


def augmentation_layers(params: Mapping[str, Any]) -> list[Any]:
    """The augmentation layers, in order, for images of shape (28, 28, 1) scaled to [0, 1]; [] when all are off."""
    import keras

    layers: list[Any] = []
    shift = int(params.get("translate", 0))
    if shift:
        factor = shift / IMAGE_SIDE
        # Nearest neighbour: whole-pixel shifts, no blur the test images never have.
        layers.append(
            keras.layers.RandomTranslation(
                factor, factor, fill_mode="constant", fill_value=0.0, interpolation="nearest", name="augment_translate"
            )
        )
    if params.get("flip", False):
        layers.append(keras.layers.RandomFlip("horizontal", name="augment_flip"))
    side = int(params.get("cutout", 0))
    if side:
        # RandomErasing draws each side as sqrt(scale) of the image's; a fixed scale fixes the square.
        area = (side / IMAGE_SIDE) ** 2
        layers.append(
            keras.layers.RandomErasing(
                factor=(CUTOUT_PROBABILITY, CUTOUT_PROBABILITY),
                scale=(area, area),
                fill_value=0.0,
                value_range=(0.0, 1.0),
                name="augment_cutout",
            )
        )
    return layers
