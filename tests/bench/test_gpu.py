"""The GPU campaign (bench/gpu.py): its pure parts fast, and the whole of it as a dry run on the CPU under JAX
(slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu import (
    BEGIN,
    END,
    best_by_time,
    gpu_monitor,
    merge,
    parse_smi,
    render_section,
    summarise_smi,
    update_benchmarks,
)

ROOT = Path(__file__).resolve().parents[2]
# What this prints:
# `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits -lms 500`
SMI = "0, 0, 1, 81559\n0, 87, 30712, 81559\n0, [N/A], 30712, 81559\n0, 95, 41200, 81559\n1, 100, 70000, 81559\n0, 9"


def test_nvidia_smi_samples_are_summarised_for_gpu_0() -> None:
    samples = parse_smi(SMI)
    assert len(samples) == 4  # the [N/A] row and the line cut off by the stop are dropped
    summary = summarise_smi(samples)
    assert summary == {"samples": 3, "utilisation_mean_pct": 60.7, "utilisation_max_pct": 95.0,
                       "memory_used_max_mib": 41200.0, "memory_total_mib": 81559.0}  # fmt: skip
    assert summarise_smi([]) == {"samples": 0}


def test_without_nvidia_smi_the_monitor_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    figures: dict[str, object] = {}
    with gpu_monitor(figures):
        pass
    assert figures == {"nvidia_smi": "not found: no figures"}


def test_best_by_time_keeps_the_points_where_the_best_went_up() -> None:
    assert best_by_time([(30.0, 0.90), (10.0, 0.85), (20.0, 0.84), (40.0, 0.93), (50.0, 0.93)]) == [
        (10.0, 0.85),
        (30.0, 0.90),
        (40.0, 0.93),
    ]
    assert best_by_time([]) == []


def test_the_section_replaces_only_the_marked_block_of_benchmarks_md() -> None:
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "The GPU figures are pending" in text.split(BEGIN, 1)[1].split(END, 1)[0]
    updated = update_benchmarks(text, "new figures")
    assert "The GPU figures are pending" not in updated and f"{BEGIN}\nnew figures\n{END}" in updated
    assert updated.split(BEGIN)[0] == text.split(BEGIN)[0] and updated.split(END)[1] == text.split(END)[1]
    with pytest.raises(ValueError, match="markers"):
        update_benchmarks("# no markers", "x")


def test_a_real_run_without_a_gpu_stops_at_once_in_one_line() -> None:
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has a GPU")
    run = subprocess.run(
        [sys.executable, "-m", "bench.gpu", "--part", "search"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"CUDA_VISIBLE_DEVICES": ""},
    )
    assert run.returncode == 1
    assert run.stderr.strip().startswith("error: no GPU visible to the") and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_dry_campaign_runs_every_part_under_jax_and_renders(tmp_path: Path) -> None:
    if subprocess.run([sys.executable, "-c", "import jax"], capture_output=True).returncode != 0:
        pytest.skip("jax is not installed: pip install -e '.[jax]'")
    out = tmp_path / "dry.json"
    env = os.environ | {"KERAS_BACKEND": "jax", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-m", "bench.gpu", "--dry", "--out", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    assert results["environment"]["backend"] == "jax" and results["dry"]
    parts = results["parts"]
    assert set(parts) == {"epoch-time", "scaling", "search"}
    assert all(len(parts["epoch-time"]["figures"][f]["epoch_s"]) == 2 for f in ("dense", "cnn"))
    assert all(w["epochs_per_s"] > 0 for w in parts["scaling"]["figures"]["workers"].values())
    search = parts["search"]["figures"]
    assert search["trials"] >= 1 and all(d.endswith("(jax)") for d in search["devices"])
    section = render_section(merge([out]))
    assert "Dry run" in section and "epochs/s (summed)" in section and "best val accuracy so far" in section
