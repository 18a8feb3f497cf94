"""Helpers for the dashboard tests: a real study and a real dashboard, each in its own process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"open (http://\S+/dashboard) ")


def study_command(url: str, data_dir: Path, trials: int, workers: int = 1, epochs: int = 2) -> list[str]:
    """A small real dense-net search on a real-data subset, as the user would start it."""
    return [
        sys.executable, "-m", "search", "start", "--space", "dense", "--study", "dense", "--storage", url,
        "--trials", str(trials), "--workers", str(workers), "--epochs", str(epochs), "--subset", "500",
        "--data-dir", str(data_dir),
    ]  # fmt: skip


@contextmanager
def running_dashboard(
    storage_url: str, timeout: float = 30, host: str | None = None, seen: list[str] | None = None
) -> Iterator[str]:
    """Start `fmnist-search dashboard --port 0`; yield its base URL; stop it (SIGTERM) and wait.

    ``seen`` receives the lines it printed up to its URL.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "search", "dashboard", "--storage", storage_url, "--port", "0",
         *(("--host", host) if host else ())],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield _wait_for_url(process, timeout, seen if seen is not None else []).removesuffix("/dashboard")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_url(process: subprocess.Popen[str], timeout: float, seen: list[str]) -> str:
    assert process.stdout is not None
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = URL_LINE.search(line)
        if match:
            return match.group(1)
    raise AssertionError(f"the dashboard did not start: {''.join(seen)!r}")


def get_json(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200, url
        return json.loads(response.read())
