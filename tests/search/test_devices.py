"""The environment each worker starts with, for every backend, and how its device is named; no GPU needed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from search.runtime.devices import GPU_MEMORY_SHARE, cpu_share, device_label, worker_environment

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n_gpus", [1, 2])
@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_each_worker_gets_one_gpu_and_a_fair_memory_share_in_every_backend(n_workers: int, n_gpus: int) -> None:
    gpus = [str(g) for g in range(n_gpus)]
    envs = [worker_environment(i, n_workers, gpus, cpu_count=16) for i in range(n_workers)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == [gpus[i % n_gpus] for i in range(n_workers)]
    per_gpu = Counter(e["CUDA_VISIBLE_DEVICES"] for e in envs)
    for env in envs:
        sharing = per_gpu[env["CUDA_VISIBLE_DEVICES"]]
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"  # TensorFlow: grow on demand
        assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"  # JAX: no 75 % grab at start
        # JAX's cap and torch's fraction: a fair share, and the shares of one GPU add up to at most 0.9.
        assert float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) == pytest.approx(GPU_MEMORY_SHARE / sharing, abs=1e-3)
        assert env["FMNIST_GPU_MEMORY_FRACTION"] == env["XLA_PYTHON_CLIENT_MEM_FRACTION"]
        assert "FMNIST_CPU_CORES" not in env and "OMP_NUM_THREADS" not in env  # a GPU worker keeps the CPU
    for gpu in per_gpu:
        assert (
            sum(float(e["XLA_PYTHON_CLIENT_MEM_FRACTION"]) for e in envs if e["CUDA_VISIBLE_DEVICES"] == gpu)
            <= GPU_MEMORY_SHARE + 1e-3
        )
    assert [e["FMNIST_WORKER_ID"] for e in envs] == [str(i) for i in range(n_workers)]


@pytest.mark.parametrize(("n_workers", "cpu_count"), [(2, 2), (3, 8), (4, 2), (4, 16)])
def test_cpu_workers_get_disjoint_core_sets_covering_the_machine(n_workers: int, cpu_count: int) -> None:
    shares = [cpu_share(i, n_workers, cpu_count) for i in range(n_workers)]
    if n_workers <= cpu_count:
        assert sorted(core for share in shares for core in share) == list(range(cpu_count))
        assert max(map(len, shares)) - min(map(len, shares)) <= 1
    else:
        assert all(len(share) == 1 for share in shares) and {s[0] for s in shares} == set(range(cpu_count))
    for i, share in enumerate(shares):
        env = worker_environment(i, n_workers, [], cpu_count)
        assert env["FMNIST_CPU_CORES"] == ",".join(map(str, share))
        assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == env["FMNIST_CPU_THREADS"] == str(len(share))
        assert env["CUDA_VISIBLE_DEVICES"] == ""


def test_device_label_names_the_backend() -> None:
    assert device_label("jax", "0") == "gpu 0 (jax)"
    assert device_label("jax", None) == "cpu (jax)"
    assert device_label("torch", None, "2") == "cpu x2 (torch)"
    assert device_label("tensorflow", "1", "4") == "gpu 1 (tensorflow)"  # on a GPU the CPU share is beside the point


def _jax_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import jax"], capture_output=True)
    return probe.returncode == 0


def test_a_jax_worker_is_pinned_to_its_cores_and_says_so() -> None:
    if not _jax_available():
        pytest.skip("jax is not installed: pip install -e '.[jax]'")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to see a one-core share")
    env = os.environ | worker_environment(1, 2, [], cpu_count=2) | {"KERAS_BACKEND": "jax"}
    code = (
        "import os\n"
        "from search.runtime.quiet import import_keras\n"
        "import_keras()\n"
        "from search.runtime.devices import apply_backend_limits, describe_device\n"
        "apply_backend_limits()\n"
        "print(sorted(os.sched_getaffinity(0)), describe_device())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[1] cpu x1 (jax)"
    assert run.stderr == ""  # no TensorFlow or XLA banner leaks out of the import
