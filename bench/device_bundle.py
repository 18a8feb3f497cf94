"""The GPU machine's bundle: the wheels its image lacks, and the four data files, in one folder under 64 MiB.

The GPU machines run Python 3.12 on x86-64 Linux with JAX and PyTorch but no TensorFlow and no
internet (their package list: ``bench/device_image_packages.txt``). Everything else the search
imports travels as wheels: the project's own needs, minus what only TensorFlow, KerasTuner or
PostgreSQL use, followed through each package's requirements until a package the image already
has. Each wheel is pinned to the version installed here, the one the tests ran with. The four
Fashion-MNIST ``.gz`` files travel beside them.

    python -m bench.device_bundle [--out device-bundle]      # scripts/device-bundle.sh runs this
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
IMAGE_PACKAGES = Path(__file__).with_name("device_image_packages.txt")
PROJECT = "fmnist-search"
# Needed only for what the GPU campaign does not do: the TensorFlow backend, --engine keras-tuner,
# a PostgreSQL store.
NOT_CARRIED = frozenset(map(canonicalize_name, ("tensorflow", "tensorboard", "keras-tuner", "psycopg2-binary")))
LIMIT_MIB = 64  # what one device call carries: working tree and bundle together
# Where pip may take wheels from for the image: CPython 3.12, glibc x86-64 (manylinux tags are matched exactly).
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
TARGET_PYTHON = "3.12"


class BundleError(RuntimeError):
    """A needed package is not installed here, a download failed, or the bundle is over the limit."""


@dataclass(frozen=True)
class Wheel:
    """One distribution to carry, pinned to the version installed here."""

    name: str
    version: str

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def image_packages(path: Path = IMAGE_PACKAGES) -> frozenset[str]:
    """The distributions the GPU image already holds (one name a line; # comments)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(canonicalize_name(line) for line in lines if line)


def target_environment() -> dict[str, str]:
    """PEP 508 marker values of the GPU machine's Python, for requirements such as
    ``tomli; python_version < "3.11"``."""
    return default_environment() | {
        "python_version": TARGET_PYTHON, "python_full_version": "3.12.3", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
        "platform_machine": "x86_64", "os_name": "posix",
    }  # fmt: skip


def _needs(distribution: str) -> list[str]:
    """Names ``distribution`` requires on the target (no extras), from its installed metadata."""
    environment = target_environment() | {"extra": ""}
    needs = []
    for text in metadata.requires(distribution) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            needs.append(requirement.name)
    return needs


def wheels_to_carry(image: frozenset[str], project: str = PROJECT, skip: frozenset[str] = NOT_CARRIED) -> list[Wheel]:
    """The project's requirements and theirs, down to what the image has, each at the version installed here."""
    carried: dict[str, Wheel] = {}
    pending = [name for name in _needs(project) if canonicalize_name(name) not in skip]
    while pending:
        name = canonicalize_name(pending.pop())
        if name in image or name in carried:
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise BundleError(
                f"{name} is needed on the GPU machine but not installed here; pip install -e . first"
            ) from None
        carried[name] = Wheel(name, version)
        pending.extend(_needs(name))
    return sorted(carried.values(), key=lambda wheel: wheel.name)


def download(wheels: list[Wheel], folder: Path) -> list[Path]:
    """``pip download`` each wheel for CPython 3.12 on manylinux x86-64, without its dependencies (resolved above)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", TARGET_PYTHON, "--implementation", "cp", "--dest", str(folder)]  # fmt: skip
    for platform in PLATFORMS:
        command += ["--platform", platform]
    run = subprocess.run([*command, *(wheel.pin for wheel in wheels)], capture_output=True, text=True)
    if run.returncode != 0:
        lines = [line for line in run.stderr.splitlines() if line.startswith("ERROR")] or run.stderr.splitlines()[-1:]
        raise BundleError(f"pip download failed: {' '.join(lines)}")
    files = sorted(folder.glob("*.whl"))
    wanted = {wheel.name for wheel in wheels}
    stale = [path for path in files if canonicalize_name(path.name.split("-")[0]) not in wanted]
    for path in stale:  # from an earlier bundle of other versions: two versions of one package break the install
        path.unlink()
    return [path for path in files if path not in stale]


def copy_data(folder: Path, data_dir: str | None = None) -> list[Path]:
    """The four Fashion-MNIST ``.gz`` files, copied as found, then read back by the project's own loader.

    Debian's package recompresses the files (their ``.gz`` MD5 differs from the published one,
    the images do not), so the check is the loader's: IDX headers, counts, labels in range.
    """
    from search.data import loader as fmnist_data

    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for part in ("train", "test"):
        source = fmnist_data.locate(part, data_dir, download=True)
        for key in (f"{part}_images", f"{part}_labels"):
            name = fmnist_data.FILES[key] + ".gz"
            if not (source / name).is_file():
                raise BundleError(
                    f"{source} holds {fmnist_data.FILES[key]} uncompressed; the bundle carries the .gz files"
                )
            shutil.copyfile(source / name, folder / name)
            copied.append(folder / name)
        try:
            fmnist_data.load_part(part, folder, download=False)
        except fmnist_data.DataError as error:
            raise BundleError(f"the copied {part} files do not load: {error}") from None
    return copied


def tracked_bytes(root: Path = ROOT) -> int:
    """Size of the files git tracks: they travel with the bundle."""
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return sum(
        (root / name).stat().st_size for name in listing.decode().split("\0") if name and (root / name).is_file()
    )


def device_commands(bundle: str) -> list[str]:
    """What to run on the GPU machine, one device call each (10 minutes a call); the bundle is carried."""
    setup = (
        "set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "
        f"--target /tmp/site {bundle}/wheels/*.whl"
        f" && export PYTHONPATH=/tmp/site:$PWD FMNIST_DATA_DIR=$PWD/{bundle}/data KERAS_BACKEND=jax "
        "PYTHONUNBUFFERED=1 || exit;"
    )
    return [
        f"{setup} python3 -m bench.gpu --part epoch-time --part scaling --out $OUT/gpu-a.json 2>&1 "
        "| tee $OUT/gpu-a.log",
        f"{setup} python3 -m bench.gpu --part search --out $OUT/gpu-b.json 2>&1 | tee $OUT/gpu-b.log",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.device_bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="device-bundle", help="folder, relative to the project root (git-ignored)")
    parser.add_argument(
        "--data-dir", default=None, help="where the four .gz files are (default: as fmnist-search finds them)"
    )
    args = parser.parse_args()
    folder = ROOT / args.out
    try:
        wheels = wheels_to_carry(image_packages())
        files = download(wheels, folder / "wheels") + copy_data(folder / "data", args.data_dir)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    size = sum(path.stat().st_size for path in files)
    tree = tracked_bytes()
    mib = 1024 * 1024
    print(f"{len(wheels)} wheels: {', '.join(wheel.pin for wheel in wheels)}")
    print(
        f"bundle {folder}: {size / mib:.1f} MiB; with the tracked files ({tree / mib:.1f} MiB): "
        f"{(size + tree) / mib:.1f} MiB of {LIMIT_MIB}"
    )
    if size + tree > LIMIT_MIB * mib:
        print(f"error: over the {LIMIT_MIB} MiB a device call carries", file=sys.stderr)
        raise SystemExit(1)
    print(f"\nOn the GPU machine (device tool, carry ['{args.out}']), one call each:")
    for command in device_commands(args.out):
        print(f"  {command}")
    print("\nThen here: python -m bench.gpu --render gpu-a.json gpu-b.json   # the GPU section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
