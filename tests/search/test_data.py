"""The Fashion-MNIST loader on tiny files in the real IDX format, and on the real files."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from search.data import loader as data
from tests.conftest import IMAGES_MAGIC, LABELS_MAGIC, idx_bytes, write_idx


def test_loads_tiny_gzip_and_plain_files(tiny_data_dir) -> None:
    for gz in (True, False):
        folder = tiny_data_dir(gz=gz)
        images, labels = data.load_part("train", folder)
        assert images.shape == (120, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (120,) and set(labels) == set(range(10))


def test_warm_load_comes_from_the_npy_cache_and_equals_the_parse(tiny_data_dir) -> None:
    folder = tiny_data_dir()
    cold = data.load_part("train", folder)
    cached = list((data.cache_dir() / "arrays").rglob("*.npy"))
    assert {p.name for p in cached} == {"train_images.npy", "train_labels.npy"}
    warm = data.load_part("train", folder)
    assert np.array_equal(cold[0], warm[0]) and np.array_equal(cold[1], warm[1])


def test_changed_source_file_invalidates_the_cache(tiny_data_dir) -> None:
    folder = tiny_data_dir()
    first, _ = data.load_part("train", folder)
    path = folder / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((120, 28, 28)), IMAGES_MAGIC)
    later = time.time() + 5
    import os

    os.utime(path, (later, later))
    second, _ = data.load_part("train", folder)
    assert first.any() and not second.any()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[:-100], "truncated"),
        (lambda raw: raw + b"\0" * 10, "too long"),
        (lambda raw: b"\x00\x00\x08\x01" + raw[4:], "wrong magic"),
        (lambda raw: raw[:2], "truncated"),
    ],
)
def test_damaged_image_file_gets_an_error_naming_it(tiny_data_dir, damage, message) -> None:
    folder = tiny_data_dir(gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DataError, match=message) as caught:
        data.load_part("train", folder)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_corrupt_gzip_gets_an_error_naming_the_file(tiny_data_dir) -> None:
    folder = tiny_data_dir()
    path = folder / "train-labels-idx1-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[:10] + bytes(b ^ 0xFF for b in raw[10:30]) + raw[30:])
    with pytest.raises(data.DataError, match="corrupt") as caught:
        data.load_part("train", folder)
    assert str(path) in str(caught.value)


def test_images_and_labels_of_different_lengths_are_refused(tiny_data_dir) -> None:
    folder = tiny_data_dir()
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(50) % 10, LABELS_MAGIC)
    with pytest.raises(data.DataError, match="120 images but .* 50 labels"):
        data.load_part("train", folder)


def test_wrong_image_size_and_bad_labels_are_refused(tiny_data_dir) -> None:
    folder = tiny_data_dir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((120, 32, 32)), IMAGES_MAGIC)
    with pytest.raises(data.DataError, match="32x32"):
        data.load_part("train", folder)
    folder = tiny_data_dir(seed=1)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(120, 12), LABELS_MAGIC)
    with pytest.raises(data.DataError, match="label 12"):
        data.load_part("train", folder)


def test_search_order_explicit_then_environment(tiny_data_dir, monkeypatch) -> None:
    explicit, from_env = tiny_data_dir(seed=1), tiny_data_dir(seed=2)
    monkeypatch.setenv("FMNIST_DATA_DIR", str(from_env))
    assert data.locate("train") == from_env
    assert data.locate("train", explicit) == explicit
    monkeypatch.setenv("FMNIST_DATA_DIR", str(explicit / "missing"))
    with pytest.raises(data.DataError, match="does not hold"):
        data.locate("train")


def test_cache_dir_is_used_when_debian_package_is_absent(tiny_data_dir, monkeypatch) -> None:
    monkeypatch.setattr(data, "DEBIAN_DIR", Path("/nonexistent"))
    raw = data.cache_dir() / "raw"
    raw.parent.mkdir(parents=True)
    tiny_data_dir().rename(raw)
    assert data.locate("train", download=False) == raw
    for path in raw.iterdir():
        path.unlink()
    with pytest.raises(data.DataError, match="not found"):
        data.locate("train", download=False)


@pytest.fixture
def mirror(tiny_data_dir) -> Iterator[tuple[str, dict[str, str]]]:
    """A real HTTP server on loopback serving the tiny .gz files, with their MD5s."""
    folder = tiny_data_dir()
    checksums = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", checksums
    server.shutdown()


def test_download_verifies_checksums_and_falls_back_to_the_next_mirror(mirror, tmp_path) -> None:
    url, checksums = mirror
    target = data.download_files(tmp_path / "dl", mirrors=("http://127.0.0.1:9/", url), checksums=checksums)
    assert sorted(p.name for p in target.iterdir()) == sorted(checksums)
    images, _ = data.load_part("train", target)
    assert images.shape == (120, 28, 28)


def test_download_with_a_wrong_checksum_writes_nothing(mirror, tmp_path) -> None:
    url, checksums = mirror
    bad = {name: "0" * 32 for name in checksums}
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.download_files(tmp_path / "dl", mirrors=(url,), checksums=bad)
    assert not any(p.name.endswith(".gz") for p in (tmp_path / "dl").iterdir())


def test_split_is_stratified_disjoint_and_fixed() -> None:
    labels = np.repeat(np.arange(10), 6000)
    train, val = data.split_indices(labels)
    assert len(train) == 55_000 and len(val) == 5_000
    assert np.bincount(labels[val]).tolist() == [500] * 10
    assert not set(train) & set(val)
    again_train, again_val = data.split_indices(labels)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)


@pytest.mark.parametrize("size", [10, 137, 1000])
def test_subset_has_exact_size_and_every_class(size: int) -> None:
    labels = np.repeat(np.arange(10), 550)
    chosen = data.stratified_subset(labels, size)
    assert len(chosen) == size == len(set(chosen))
    counts = np.bincount(labels[chosen], minlength=10)
    assert counts.max() - counts.min() <= 1


def test_real_files_split_55k_5k_and_never_open_the_test_files(real_data_dir, monkeypatch) -> None:
    opened = []
    original = data._read_raw
    monkeypatch.setattr(data, "_read_raw", lambda path: opened.append(path.name) or original(path))
    split = data.load_train_val(real_data_dir)
    assert (len(split.x_train), len(split.x_val)) == (55_000, 5_000)
    assert np.bincount(split.y_val).tolist() == [500] * 10
    assert not any(name.startswith("t10k") for name in opened)
    x_test, y_test = data.load_test(real_data_dir)
    assert x_test.shape == (10_000, 28, 28) and np.bincount(y_test).tolist() == [1000] * 10


def test_real_gzip_matches_raw_header(real_data_dir) -> None:
    with gzip.open(real_data_dir / "train-labels-idx1-ubyte.gz") as stream:
        header = stream.read(8)
    assert header == idx_bytes(np.zeros(60_000, np.uint8), LABELS_MAGIC)[:8]
