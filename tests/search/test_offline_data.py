"""A first run without internet: the error names Debian's package and --data-dir, and the set-up
script installs the package where it can (apt-get there, root) or prints the one command to run.

The script runs for real under bash; `fmnist-search`, `apt-get` and `id` are stubs on PATH, so
nothing is installed on the test machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from search.data import loader as data
from tests.search.cli_helpers import assert_one_line_error, invoke

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "data.sh"


def test_a_failed_download_names_the_package_and_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")

    def offline(target: Path, *args: object, **kwargs: object) -> Path:
        raise data.DataError(
            "could not download train-images-idx3-ubyte.gz: "
            "<urlopen error [Errno -3] Temporary failure in name resolution>"
        )

    monkeypatch.setattr(data, "download_files", offline)
    assert_one_line_error(
        invoke("data"), "could not download", "sudo apt-get install dataset-fashion-mnist", "--data-dir DIR"
    )


def _run(tmp_path: Path, uid: int, with_apt: bool) -> tuple[subprocess.CompletedProcess[str], Path]:
    """scripts/data.sh with stubs: `fmnist-search data` fails until the (stub) package is installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    installed = tmp_path / "installed"
    calls = tmp_path / "apt-calls"
    stubs = {
        "fmnist-search": (
            f'[ -f "{installed}" ] && {{ echo "train: 60,000 images"; exit 0; }}; '
            'echo "error: could not download" >&2; exit 1'
        ),
        "id": f"echo {uid}",
    }
    if with_apt:
        stubs["apt-get"] = f'echo "$@" >> "{calls}"; touch "{installed}"'
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    # Without apt: only the stubs on PATH, since /usr/bin holds the real apt-get on Debian.
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin" if with_apt else str(bin_dir)}
    done = subprocess.run(["/bin/bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    return done, calls


def test_as_root_with_apt_the_package_is_installed_and_the_data_found(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, uid=0, with_apt=True)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().split() == ["install", "-y", "dataset-fashion-mnist"]
    assert "60,000 images" in done.stdout


def test_as_a_user_the_one_command_is_printed_and_nothing_installed(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, uid=1000, with_apt=True)
    assert done.returncode == 1 and not calls.exists()
    assert "sudo apt-get install dataset-fashion-mnist" in done.stderr


def test_without_apt_the_error_points_to_data_dir(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, uid=0, with_apt=False)
    assert done.returncode == 1 and not calls.exists()
    assert "--data-dir DIR" in done.stderr
