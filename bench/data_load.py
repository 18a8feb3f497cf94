"""Cold vs warm load of all 70,000 Fashion-MNIST images (train + test) through ``load_part``.

Cold: the .npy array cache is empty (XDG_CACHE_HOME points at a fresh temporary directory),
so ``load_part`` gunzips and parses the IDX files and writes the cache. Warm: the same call
again, now reading the .npy files. Every worker of a search loads the data once, so the warm
time is what each worker pays; the issue's goal is "well under a second".

To see where cold time goes, each repeat also times gunzipping the four files alone.
Sides are interleaved (cold, gunzip, warm, cold, ...) and medians reported, because the
machine is shared and timings are noisy.

``race_keras`` (used by ``python -m bench``) races the warm load against
``keras.datasets.fashion_mnist.load_data()`` on the same files, the sealed test files stood in for.

    python -m bench.data_load [--repeats 5] [--json bench/results-data_load.json]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench._common import median, print_table, save_json
from search.data.loader import FILES, load_part, locate, stratified_subset

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

PARTS = ("train", "test")


def load_all() -> int:
    """Load train and test; return the number of images."""
    return sum(len(load_part(part)[0]) for part in PARTS)


def gunzip_all() -> int:
    """Only decompress the four source files (what a cold load must do at least)."""
    total = 0
    for part in PARTS:
        directory = locate(part)
        for kind in ("images", "labels"):
            path = directory / f"{FILES[f'{part}_{kind}']}.gz"
            if path.is_file():
                with gzip.open(path, "rb") as stream:
                    total += len(stream.read())
    return total


def _idx_gz(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def write_benchmark_files(target: Path) -> Path:
    """The four IDX files for the loader race, in ``target``: the real training files, and in place
    of the sealed test files, 10,000 training images in the same format (benchmarks never read the
    test set). Both loaders then read the same 70,000 images from the same bytes."""
    target.mkdir(parents=True, exist_ok=True)
    source = locate("train")
    for kind in ("images", "labels"):
        name = f"{FILES[f'train_{kind}']}.gz"
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
        else:  # an uncompressed source: Keras only reads .gz files
            (target / name).write_bytes(gzip.compress((source / FILES[f"train_{kind}"]).read_bytes()))
    images, labels = load_part("train")
    chosen = stratified_subset(labels, 10_000)
    (target / f"{FILES['test_images']}.gz").write_bytes(_idx_gz(images[chosen], IMAGES_MAGIC))
    (target / f"{FILES['test_labels']}.gz").write_bytes(_idx_gz(labels[chosen], LABELS_MAGIC))
    return target


@dataclass(frozen=True)
class LoaderRace:
    """Warm loads of the same 70,000 images: fmnist-search (.npy cache) vs keras.datasets.fashion_mnist."""

    ours_warm_s: list[float]
    keras_s: list[float]
    images: int

    @property
    def warm_load_s(self) -> float:
        return median(self.ours_warm_s)

    @property
    def ratio(self) -> float:
        """Our warm load time over Keras's load_data() time: below 1 means ours is faster."""
        return median(self.ours_warm_s) / median(self.keras_s)


def race_keras(workdir: Path, repeats: int = 5) -> LoaderRace:
    """Interleave our warm load and ``keras.datasets.fashion_mnist.load_data()`` on the same files.

    Keras looks for its files under ``$KERAS_HOME/datasets/fashion-mnist`` and downloads what is
    missing; KERAS_HOME is read when Keras is imported, so the caller sets it to a folder of its
    own before importing Keras (bench/__main__.py does), and the files are copied there.
    """
    import keras
    from keras.src.backend.config import keras_home  # private: Keras has no public getter

    files = write_benchmark_files(workdir / "idx")
    keras_dir = Path(keras_home()) / "datasets" / "fashion-mnist"
    if keras_dir.exists():
        shutil.rmtree(keras_dir)
    shutil.copytree(files, keras_dir)
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")  # our cache for these files only
    ours: list[float] = []
    theirs: list[float] = []
    images = 0
    try:
        load_part("train", files), load_part("test", files)  # cold once: writes the .npy cache
        for _ in range(repeats):
            started = time.perf_counter()
            images = sum(len(load_part(part, files)[0]) for part in PARTS)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            (x_train, _), (x_test, _) = keras.datasets.fashion_mnist.load_data()
            theirs.append(time.perf_counter() - started)
            assert len(x_train) + len(x_test) == images, "Keras did not read the same files"
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
    return LoaderRace(ours, theirs, images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()

    saved = os.environ.get("XDG_CACHE_HOME")
    cold: list[float] = []
    warm: list[float] = []
    gunzip: list[float] = []
    images = 0
    try:
        for _ in range(args.repeats):
            cache = Path(tempfile.mkdtemp(prefix="fmnist-bench-cache-"))
            os.environ["XDG_CACHE_HOME"] = str(cache)
            try:
                started = time.perf_counter()
                images = load_all()
                cold.append(time.perf_counter() - started)

                started = time.perf_counter()
                gunzip_all()
                gunzip.append(time.perf_counter() - started)

                started = time.perf_counter()
                assert load_all() == images
                warm.append(time.perf_counter() - started)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved

    print(f"{images} images (train + test), {args.repeats} repeats, interleaved\n")
    rows = [(i + 1, c, g, w, c / w) for i, (c, g, w) in enumerate(zip(cold, gunzip, warm, strict=True))]
    rows.append(("median", median(cold), median(gunzip), median(warm), median(cold) / median(warm)))
    print_table(("repeat", "cold s", "gunzip only s", "warm s", "cold / warm"), rows)
    goal = "met" if median(warm) < 1.0 else "MISSED"
    print(f"\nwarm load median {median(warm) * 1000:.0f} ms; goal 'well under a second': {goal}")
    save_json(args.json, {"images": images, "cold_s": cold, "gunzip_s": gunzip, "warm_s": warm})


if __name__ == "__main__":
    main()
