"""Augmentation, label smoothing, the GAP head: only in training, and an exported model loads and predicts the same.

The save/load check runs on TensorFlow in-process and on JAX in a child process (the test process
runs TensorFlow, as in conftest), and the saved file must name only Keras's own classes, so a
user loads it with ``keras.saving.load_model(path, safe_mode=True)`` and nothing else imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from search.runtime.quiet import import_keras

keras = import_keras()

from spaces.augmentation import CUTOUT_PROBABILITY, augmentation_layers  # noqa: E402
from spaces.builders import build_model  # noqa: E402
from spaces.families import defaults  # noqa: E402
from spaces.label_smoothing import targets  # noqa: E402
from spaces.model_size import count_params  # noqa: E402
from spaces.schedules import ScheduleSpan  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING_ON = {"translate": 2, "flip": True, "cutout": 8, "lr_schedule": "one_cycle", "label_smoothing": 0.1}
SMALL = {
    "dense": {"n_layers": 1, "units": 16},
    "cnn": {"conv_blocks": 1, "filters": 4, "dense_units": 8, "head": "gap"},
}

# Trains one epoch with everything on, saves, loads, and prints what the test compares. The same
# script runs in a child process for JAX.
ROUND_TRIP = """
import json, sys
import numpy as np
from search.runtime.quiet import import_keras
keras = import_keras()
from spaces.builders import build_model
from spaces.families import defaults
from spaces.label_smoothing import targets
from spaces.schedules import ScheduleSpan
results = []
for family, path, params in json.loads(sys.argv[1]):
    params = {**defaults(family), **params}
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (96, 28, 28)).astype("uint8")
    labels = np.arange(96) % 10
    model = build_model(family, params, ScheduleSpan(3, len(images)))
    model.fit(images, targets(params, labels), batch_size=32, epochs=1, verbose=0)
    model.save(path)
    before = model.predict(images, verbose=0)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = loaded.predict(images, verbose=0)
    results.append({"backend": keras.backend.backend(), "same": bool(np.array_equal(before, after)),
                    "layers": [layer.name for layer in loaded.layers],
                    "lr": type(loaded.optimizer._learning_rate).__name__})
print(json.dumps(results))
"""


def params_of(family: str, **changes) -> dict:
    return {**defaults(family), **SMALL[family], **changes}


def saved_modules(path: Path) -> set[str]:
    """Every ``module`` a saved model's config names: where Keras looks up its classes when loading."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("module"), str):
                found.add(node["module"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path) as archive:
        walk(json.loads(archive.read("config.json")))
    return found


@pytest.mark.parametrize("family", ["dense", "cnn"])
def test_augmentation_acts_only_in_training(family: str) -> None:
    keras.utils.set_random_seed(0)
    model = build_model(family, params_of(family, **EVERYTHING_ON), ScheduleSpan(2, 64))
    assert [layer.name for layer in model.layers if layer.name.startswith("augment_")] == [
        "augment_translate", "augment_flip", "augment_cutout",
    ]  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28)).astype("uint8")
    inference = np.asarray(model(images, training=False))
    np.testing.assert_array_equal(inference, np.asarray(model(images, training=False)))
    np.testing.assert_allclose(model.predict(images, verbose=0), inference, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(model(images, training=True)), inference)


def test_without_augmentation_the_model_is_the_one_built_before_it_existed() -> None:
    for family in ("dense", "cnn"):
        model = build_model(family, params_of(family))
        names = [layer.name for layer in model.layers]
        assert not any(name.startswith("augment_") for name in names)
        assert ("channel" in names) == (family == "cnn")  # a dense model without augmentation is unreshaped
    assert augmentation_layers(defaults("dense")) == [] and augmentation_layers({}) == []


def test_cutout_blanks_a_square_of_its_side_in_about_half_the_images() -> None:
    keras.utils.set_random_seed(3)
    [cutout] = augmentation_layers({"cutout": 6})
    images = np.ones((400, 28, 28, 1), dtype="float32")
    out = np.asarray(cutout(images, training=True))[..., 0]
    blanked = [image for image in out if (image == 0).any()]
    assert abs(len(blanked) / len(out) - CUTOUT_PROBABILITY) < 0.1
    for image in blanked:
        rows, cols = np.nonzero(image == 0)
        assert (image == 0).sum() == 36 and np.ptp(rows) == 5 and np.ptp(cols) == 5  # one 6x6 square, inside the image
    np.testing.assert_array_equal(np.asarray(cutout(images, training=False)), images)


def test_translation_shifts_by_whole_pixels_at_most_its_magnitude() -> None:
    keras.utils.set_random_seed(4)
    [translate] = augmentation_layers({"translate": 2})
    image = np.zeros((1, 28, 28, 1), dtype="float32")
    image[0, 13, 13, 0] = 1.0
    for _ in range(20):
        out = np.asarray(translate(image, training=True))[0, ..., 0]
        [[row], [col]] = np.nonzero(out)
        assert out.max() == 1.0 and abs(row - 13) <= 2 and abs(col - 13) <= 2


@pytest.mark.parametrize("family", ["dense", "cnn"])
def test_the_recipe_adds_no_weights_and_gap_shrinks_the_head(family: str) -> None:
    params = params_of(family, **EVERYTHING_ON)
    model = build_model(family, params, ScheduleSpan(1, 10))
    assert model.count_params() == count_params(family, params) == build_model(family, params_of(family)).count_params()
    if family == "cnn":
        flat = params_of("cnn", head="flatten")
        assert count_params("cnn", flat) == build_model("cnn", flat).count_params() > count_params("cnn", params)


def test_label_smoothing_trains_on_smoothed_one_hot_targets() -> None:
    labels = np.array([0, 3])
    assert targets({"label_smoothing": 0.0}, labels) is labels
    smoothed = targets({"label_smoothing": 0.1}, labels)
    assert smoothed.shape == (2, 10) and smoothed[1, 3] == 1.0
    model = build_model("dense", params_of("dense", label_smoothing=0.1))
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)


def round_trip(cases: list[tuple[str, Path, dict]], backend: str) -> list[dict]:
    """Train, save, load and predict in a child process (one for all cases: each start imports Keras)."""
    data = json.dumps([[family, str(path), params] for family, path, params in cases])
    env = os.environ | {"KERAS_BACKEND": backend}
    run = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, data], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_saved_model_with_everything_on_predicts_the_same_and_needs_only_keras(tmp_path: Path) -> None:
    cases = [(family, tmp_path / f"{family}.keras", {**SMALL[family], **EVERYTHING_ON}) for family in ("dense", "cnn")]
    for (_, path, _), result in zip(cases, round_trip(cases, "tensorflow"), strict=True):
        assert result["same"] and result["lr"] == "CosineDecay"
        assert {"augment_translate", "augment_flip", "augment_cutout"} <= set(result["layers"])
        assert all(module.split(".")[0] == "keras" for module in saved_modules(path)), saved_modules(path)


def _jax_missing() -> bool:
    return subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0


@pytest.mark.skipif(_jax_missing(), reason="jax is not installed: pip install -e '.[jax]'")
def test_the_same_round_trip_under_jax(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    [result] = round_trip([("dense", path, {**SMALL["dense"], **EVERYTHING_ON, "lr_schedule": "cosine"})], "jax")
    assert result["backend"] == "jax" and result["same"] and result["lr"] == "CosineDecay"
    assert all(module.split(".")[0] == "keras" for module in saved_modules(path))
