"""Fashion-MNIST: find the four IDX files, check them, cache the parsed arrays, split them.

Where the files come from, first match wins:
  1. ``--data-dir`` / ``FMNIST_DATA_DIR``;
  2. ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``);
  3. the user cache directory (``$XDG_CACHE_HOME/fmnist-search/raw``, else ``~/.cache/...``);
  4. a download from the official mirror into 3., each file checked against its published MD5.

The split is fixed: of the 60,000 training images, 500 per class (5,000) are the validation
set and the other 55,000 the train set, chosen by a seeded stratified permutation
(``SPLIT_SEED``). The 10,000 test images are read only by :func:`load_test`, which the search
never calls.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.errors import DataError
from search.settings import settings

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# MD5 of the .gz files as published in the Fashion-MNIST README.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
SPLIT_SEED = 20170825  # Fashion-MNIST's release date; any fixed value would do.
VALIDATION_FRACTION = 1 / 12  # 5,000 of 60,000: 500 of each class's 6,000.
_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


@dataclass(frozen=True)
class TrainValData:
    """The search's data: raw uint8 images (N, 28, 28) and uint8 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fmnist-search"


# ---------------------------------------------------------------- finding the files


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _has_all(directory: Path, part: str) -> bool:
    return all(_find_file(directory, FILES[k]) for k in (f"{part}_images", f"{part}_labels"))


def locate(part: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> Path:
    """The directory holding the ``train`` or ``test`` files, searched in the documented order."""
    explicit = data_dir or settings().data_dir
    if explicit:
        directory = Path(explicit)
        if not _has_all(directory, part):
            wanted = ", ".join(f"{FILES[k]}[.gz]" for k in (f"{part}_images", f"{part}_labels"))
            raise DataError(f"data directory {directory} does not hold {wanted}")
        return directory
    for directory in (DEBIAN_DIR, cache_dir() / "raw"):
        if _has_all(directory, part):
            return directory
    if not download:
        raise DataError(
            f"Fashion-MNIST not found in {DEBIAN_DIR} or {cache_dir() / 'raw'}; "
            "run `fmnist-search data` or set FMNIST_DATA_DIR"
        )
    try:
        return download_files(cache_dir() / "raw")
    except DataError as error:
        raise DataError(f"{error}. {OFFLINE_HINT}") from error


# What to do without internet, said wherever the download fails.
OFFLINE_HINT = (
    f"Without internet: install Debian's package (sudo apt-get install {DEBIAN_PACKAGE}, into {DEBIAN_DIR}), "
    "or give --data-dir DIR (or FMNIST_DATA_DIR) with the four IDX files"
)


def download_files(target: Path, mirrors: tuple[str, ...] = MIRRORS, checksums: dict[str, str] = OFFICIAL_MD5) -> Path:
    """Download the four .gz files into ``target``, trying each mirror, verifying each MD5."""
    target.mkdir(parents=True, exist_ok=True)
    for name, expected in checksums.items():
        if (target / name).is_file() and _md5(target / name) == expected:
            continue
        errors = []
        for mirror in mirrors:
            try:
                _download_one(mirror + name, target / name, expected)
                break
            except (OSError, DataError) as error:
                errors.append(f"{mirror}: {error}")
        else:
            raise DataError(f"could not download {name}: " + "; ".join(errors))
    return target


def _download_one(url: str, destination: Path, expected_md5: str) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:
        payload = response.read()
    actual = hashlib.md5(payload).hexdigest()
    if actual != expected_md5:
        raise DataError(f"checksum mismatch (md5 {actual}, expected {expected_md5})")
    _atomic_write(destination, payload)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _atomic_write(path: Path, payload: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as stream:
        stream.write(payload)
    os.replace(temporary, path)


# ---------------------------------------------------------------- parsing IDX


def _read_raw(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: corrupt file ({error})") from error


def parse_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file (gzip or not), checking magic number, dimensions and length."""
    raw = _read_raw(path)
    kind = "images" if magic == _IMAGES_MAGIC else "labels"
    if len(raw) < 4:
        raise DataError(f"{path}: truncated file ({len(raw)} bytes, no IDX header)")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataError(f"{path}: wrong magic number 0x{found:08x}, expected 0x{magic:08x} for {kind}")
    n_dims = magic & 0xFF
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataError(f"{path}: truncated file ({len(raw)} bytes, header needs {header})")
    dims = struct.unpack(f">{n_dims}I", raw[4:header])
    if kind == "images" and dims[1:] != (28, 28):
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "too long"
        raise DataError(f"{path}: {state} file ({len(raw)} bytes, header says {expected})")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "labels" and array.size and array.max() > 9:
        raise DataError(f"{path}: label {int(array.max())} out of range 0-9")
    return array


# ---------------------------------------------------------------- cached arrays


def _cache_key(paths: list[Path]) -> str:
    """Identify the source files by path, size and modification time: cheap, and changes when they do."""
    digest = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def load_part(
    part: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``train`` or ``test``, from the .npy cache when it is warm."""
    directory = locate(part, data_dir, download)
    image_path = _find_file(directory, FILES[f"{part}_images"])
    label_path = _find_file(directory, FILES[f"{part}_labels"])
    assert image_path and label_path  # locate() checked both exist
    cached = cache_dir() / "arrays" / _cache_key([image_path, label_path])
    try:
        return np.load(cached / f"{part}_images.npy"), np.load(cached / f"{part}_labels.npy")
    except (OSError, ValueError):
        pass  # cold cache (or a damaged one): parse the originals and write it again
    images = parse_idx(image_path, _IMAGES_MAGIC)
    labels = parse_idx(label_path, _LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels")
    _write_npy(cached / f"{part}_images.npy", images)
    _write_npy(cached / f"{part}_labels.npy", labels)
    return images, labels


def _write_npy(path: Path, array: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npy")
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, array)
        os.replace(temporary, path)
    except OSError:
        pass  # an unwritable cache only costs speed


# ---------------------------------------------------------------- the split


def split_indices(
    labels: np.ndarray, fraction: float = VALIDATION_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices: ``fraction`` of each class goes to validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = int(round(len(members) * fraction))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def stratified_subset(labels: np.ndarray, size: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """Indices of a class-balanced sample of ``size`` items (every trial gets the same sample)."""
    if not 1 <= size <= len(labels):
        raise DataError(f"subset must be between 1 and {len(labels)}, but got subset={size}")
    # Each item's rank within its (shuffled) class, as a fraction: taking the `size` smallest
    # gives exactly `size` items with every class in proportion.
    rng = np.random.default_rng(seed)
    rank = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        rank[members] = (np.arange(len(members)) + rng.random()) / len(members)
    return np.sort(np.argsort(rank, kind="stable")[:size])


def load_train_val(
    data_dir: str | os.PathLike[str] | None = None, subset: int | None = None, download: bool = True
) -> TrainValData:
    """The search's data: the fixed 55k/5k split (or a stratified ``subset`` of its train part)."""
    images, labels = load_part("train", data_dir, download)
    train, val = split_indices(labels)
    if subset is not None:
        train = train[stratified_subset(labels[train], subset)]
    return TrainValData(images[train], labels[train], images[val], labels[val])


def load_test(data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 sealed test images. Only the final evaluation of an export may call this."""
    return load_part("test", data_dir, download)
