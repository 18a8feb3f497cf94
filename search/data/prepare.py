"""``fmnist-search data``: find (or download), check and cache the files, and say where they came from."""

from __future__ import annotations

import time
from collections.abc import Callable

from search.data import loader as fmnist_data


def prepare_data(say: Callable[[str], None], data_dir: str | None) -> None:
    """Locate (or download) and parse the training and test files, warming the array cache; ``say`` each step."""
    for part in ("train", "test"):
        directory = fmnist_data.locate(part, data_dir)
        started = time.perf_counter()
        images, labels = fmnist_data.load_part(part, data_dir)
        seconds = time.perf_counter() - started
        say(f"{part}: {len(images):,} images from {directory} (loaded in {seconds:.2f} s)")
    split = fmnist_data.load_train_val(data_dir)
    say(f"split: {len(split.x_train):,} train / {len(split.x_val):,} validation; the test images stay sealed")
