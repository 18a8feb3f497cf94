"""Workers are capped: never more processes than trials left, never more than memory holds; a one-line warning
says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.runtime import worker_cap
from search.runtime.worker_cap import GIB, available_memory_bytes, cap_workers, worker_footprint
from tests.search.cli_helpers import invoke
from tests.search.stub_start import use_stub_training


def test_cap_by_trials_left_and_by_memory() -> None:
    assert cap_workers(4, None, None, GIB) == (4, None)
    assert cap_workers(16, 2, 64 * GIB, GIB)[0] == 2
    assert cap_workers(16, 0, 64 * GIB, GIB)[0] == 1  # the budget is spent: one worker finds that out
    workers, warning = cap_workers(16, None, 5 * GIB, 2 * GIB)
    assert workers == 2 and warning is not None and "memory" in warning and "\n" not in warning
    workers, warning = cap_workers(16, 3, 2 * GIB, GIB)
    assert workers == 2 and "3 trials left" in warning and "memory" in warning
    assert cap_workers(3, 10, GIB // 2, GIB)[0] == 1  # never zero


def test_footprint_grows_with_the_model_and_memory_is_known_here() -> None:
    assert worker_footprint(10_000_000) > worker_footprint(0) >= worker_cap.WORKER_BASE_BYTES
    memory = available_memory_bytes()
    assert memory is not None and memory > 0


def test_sixteen_workers_for_two_trials_start_two(
    tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = use_stub_training(monkeypatch)
    result = invoke(
        "start",
        "--space",
        "dense",
        "--workers",
        "16",
        "--trials",
        "2",
        "--epochs",
        "1",
        "--data-dir",
        str(tiny_data_dir()),
        "--storage",
        f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert result.exit_code == 0, result.output
    assert started == [2]
    [warning] = [line for line in result.stderr.splitlines() if line.strip()]
    assert warning.startswith("warning: --workers 16 capped to 2") and "2 trials left" in warning
    assert "2 workers" in result.output and "finished 2/2" in result.output


def test_workers_are_capped_to_what_memory_holds(
    tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = use_stub_training(monkeypatch)
    # A machine with room for three workers of the dense space (the memory reading is the input here).
    footprint = worker_footprint(4_000_000)
    monkeypatch.setattr(worker_cap, "available_memory_bytes", lambda: 3 * footprint + footprint // 2)
    result = invoke(
        "start",
        "--space",
        "dense",
        "--workers",
        "8",
        "--trials",
        "20",
        "--epochs",
        "1",
        "--data-dir",
        str(tiny_data_dir()),
        "--storage",
        f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert result.exit_code == 0, result.output
    assert started == [3] and "capped to 3" in result.stderr and "memory" in result.stderr
