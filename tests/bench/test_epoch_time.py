"""bench/epoch_time.py --compare end to end on tiny data: child processes, ratios, accuracy check, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.epoch_time import BASELINE, CONFIGS, config_env, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # two child processes, each importing TensorFlow: ~30 s on 2 shared cores
def test_compare_runs_every_configuration_in_its_own_process_and_writes_ratios(
    tiny_data_dir: Callable[..., Path], tmp_path: Path
) -> None:
    data = tiny_data_dir(n_train=600, n_test=60)
    out = tmp_path / "compare.json"
    command = [sys.executable, "-m", "bench.epoch_time", "--compare", "--configs", BASELINE, "chosen",
               "--repeats", "1", "--epochs", "2", "--subset", "200", "--families", "dense",
               "--data-dir", str(data), "--json", str(out)]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "speed vs default" in run.stdout and "shared" in run.stdout
    report = json.loads(out.read_text())
    rows = {row["config"]: row for row in report["rows"]}
    assert set(rows) == {BASELINE, "chosen"} and rows[BASELINE]["ratio"] == 1.0
    assert rows["chosen"]["ratio"] > 0 and rows["chosen"]["accuracy_kept"] in (True, False)
    runtimes = {entry["config"]: entry["results"][0]["runtime"]["dense"] for entry in report["raw"]}
    assert (
        runtimes[BASELINE]["steps_per_execution"] == 1 and runtimes[BASELINE]["jit_compile"] == "auto"
    )  # today's default


def test_the_baseline_is_today_s_default_and_two_workers_split_the_cores() -> None:
    env = config_env(CONFIGS[BASELINE])
    assert (
        env["KERAS_BACKEND"] == "tensorflow"
        and env["FMNIST_STEPS_PER_EXECUTION"] == "1"
        and env["FMNIST_JIT_COMPILE"] == "auto"
    )
    assert "FMNIST_STEPS_PER_EXECUTION" not in config_env(CONFIGS["chosen"])  # the runtime choice decides
    pair = [config_env(CONFIGS["tf-2workers"], w) for w in range(2)]
    assert [e["FMNIST_WORKER_ID"] for e in pair] == ["0", "1"]
    assert not set(pair[0]["FMNIST_CPU_CORES"].split(",")) & set(pair[1]["FMNIST_CPU_CORES"].split(","))


def test_compare_without_the_baseline_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="must include 'default'"):
        main(["--compare", "--configs", "chosen"])
