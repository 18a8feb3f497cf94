"""Shared fixtures: tiny IDX files in the real format, a private store and cache per test, real data."""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from search.runtime.quiet import configure_logging

pytest_plugins = ["tests.pg_fixtures"]

configure_logging()  # before any test imports Keras: keep TensorFlow's noise out of test output

from search.data import loader as fmnist_data  # noqa: E402

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# Found before any test redirects the cache: Debian's package, FMNIST_DATA_DIR or the user cache.
try:
    REAL_DATA_DIR: Path | None = fmnist_data.locate("train", download=False)
except fmnist_data.DataError:
    REAL_DATA_DIR = None


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An array in the IDX format: big-endian magic, one uint32 per dimension, then the bytes."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    payload = idx_bytes(array, magic)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own store directory and array cache; nothing touches the user's."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FMNIST_SEARCH_HOME", str(home / "store"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("FMNIST_DATA_DIR", raising=False)
    return home


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Callable[..., Path]:
    """Make a folder of the four IDX files with `n_train` / `n_test` random images, balanced labels."""

    def make(n_train: int = 120, n_test: int = 30, gz: bool = True, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        folder = tmp_path / f"idx-{n_train}-{n_test}-{gz}-{seed}"
        folder.mkdir()
        suffix = ".gz" if gz else ""
        for part, n in (("train", n_train), ("test", n_test)):
            labels = np.arange(n) % 10
            # Each class gets its own brightness, so a model can learn something in one epoch.
            images = np.clip(rng.normal(labels[:, None, None] * 25, 20, (n, 28, 28)), 0, 255)
            write_idx(folder / f"{fmnist_data.FILES[part + '_images']}{suffix}", images, IMAGES_MAGIC)
            write_idx(folder / f"{fmnist_data.FILES[part + '_labels']}{suffix}", labels, LABELS_MAGIC)
        return folder

    return make


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if REAL_DATA_DIR is None:
        pytest.skip("real Fashion-MNIST not found: install dataset-fashion-mnist or run `fmnist-search data`")
    return REAL_DATA_DIR


@pytest.fixture(scope="session")
def real_subset(real_data_dir: Path) -> fmnist_data.TrainValData:
    """A small stratified slice of the real train split (validation trimmed too), for fast training."""
    full = fmnist_data.load_train_val(real_data_dir, subset=1000)
    keep = fmnist_data.stratified_subset(full.y_val, 500)
    return fmnist_data.TrainValData(full.x_train, full.y_train, full.x_val[keep], full.y_val[keep])


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
