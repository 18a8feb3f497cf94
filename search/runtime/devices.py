"""Devices: which GPUs there are, how workers share them (or the CPU cores), and what a worker trains on.

``worker_environment`` is pure: it maps (worker, workers, GPUs, cores) to the environment a
worker process must start with, before its backend is imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter

from search.settings import WorkerShare, worker_share

GPU_MEMORY_SHARE = 0.9  # of a GPU's memory, split between the workers that share it


def detect_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES when set, else those nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def check_gpus(requested: list[str], found: list[str]) -> list[str]:
    """``requested`` if every id is a GPU found (``detect_gpus``); else ValueError naming the first that is not.

    Without this, a worker told to use a GPU that is not there trains on the CPU without a word.
    """
    missing = [gpu for gpu in requested if gpu not in found]
    if missing:
        raise ValueError(
            f"--gpus {','.join(requested)}: there is no GPU {missing[0]} here "
            f"(GPUs found: {', '.join(found) or 'none'}, from CUDA_VISIBLE_DEVICES or nvidia-smi)"
        )
    return requested


def parse_gpus(text: str) -> list[str]:
    """``--gpus 0,1`` as a list of ids; raises ValueError on anything but comma-separated integers."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids or not all(part.isdigit() for part in ids):
        raise ValueError(f"--gpus takes comma-separated GPU numbers such as 0,1, but got {text!r}")
    return ids


def worker_environment(worker_id: int, n_workers: int, gpus: list[str], cpu_count: int) -> dict[str, str]:
    """Environment for worker ``worker_id`` of ``n_workers``.

    GPUs: worker i sees gpus[i % G] only. TensorFlow grows its memory on demand; JAX does not
    preallocate and, like torch, is capped at a fair share of the GPU's memory. CPU: the cores
    are split as evenly as possible, each worker's backend limited to its share (one worker
    alone keeps every core).
    """
    env = WorkerShare(worker_id, None, frozenset(), None).environ()
    if gpus:
        gpu = gpus[worker_id % len(gpus)]
        sharing = Counter(gpus[i % len(gpus)] for i in range(n_workers))[gpu]
        share = f"{GPU_MEMORY_SHARE / sharing:.3f}"
        env.update(
            CUDA_VISIBLE_DEVICES=gpu,
            TF_FORCE_GPU_ALLOW_GROWTH="true",
            # JAX: with preallocation off, the fraction is the cap its allocator grows up to.
            XLA_PYTHON_CLIENT_PREALLOCATE="false",
            XLA_PYTHON_CLIENT_MEM_FRACTION=share,
        )
        env.update(WorkerShare(worker_id, None, frozenset(), float(share)).environ())  # torch: apply_backend_limits
        return env
    if n_workers <= 1:
        return env
    cores = cpu_share(worker_id, n_workers, cpu_count)
    threads = len(cores)
    env.update(
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS=str(threads),
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS="1",
        XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}",
    )
    env.update(WorkerShare(worker_id, threads, frozenset(cores), None).environ())  # JAX: apply_backend_limits
    return env


def cpu_share(worker_id: int, n_workers: int, cpu_count: int) -> list[int]:
    """Worker ``worker_id``'s cores: consecutive blocks, as even as possible.

    One core each, round-robin, when workers outnumber cores.
    """
    sizes = [max(1, cpu_count // n_workers + (1 if i < cpu_count % n_workers else 0)) for i in range(n_workers)]
    first = sum(sizes[:worker_id])
    return [(first + k) % cpu_count for k in range(sizes[worker_id])]


def apply_backend_limits() -> None:
    """Limits that a backend takes as calls, not environment; call after importing Keras, before training.

    torch: its thread count and GPU memory fraction. JAX: XLA's CPU client has no thread-count
    setting (with XLA_FLAGS' Eigen switch alone it used ~1.6 cores of a 1-core share, measured),
    but sizes its thread pool by the process's CPU affinity when it starts, at the first
    computation: pinning the worker to its cores here is what holds it to its share.
    """
    import keras

    backend, share = keras.backend.backend(), worker_share()
    if backend == "jax" and share.cpu_cores:
        os.sched_setaffinity(0, share.cpu_cores)
    if backend != "torch":
        return
    import torch

    if share.cpu_threads:
        torch.set_num_threads(share.cpu_threads)
    if share.gpu_memory_fraction and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(share.gpu_memory_fraction)


def device_label(backend: str, gpu: str | None, threads: str | None = None) -> str:
    """``gpu 0 (jax)`` on a GPU, ``cpu (tensorflow)`` on the CPU, ``cpu x2 (torch)`` on a 2-core share of it."""
    if gpu is not None:
        return f"gpu {gpu} ({backend})"
    return f"cpu x{threads} ({backend})" if threads else f"cpu ({backend})"


def describe_device() -> str:
    """What this process trains on, as :func:`device_label` writes it: the GPU ids it sees, or its CPU share."""
    import keras

    backend = keras.backend.backend()
    has_gpu = False
    if backend == "tensorflow":
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    elif backend == "jax":
        import jax

        has_gpu = jax.default_backend() == "gpu"
    elif backend == "torch":
        import torch

        has_gpu = torch.cuda.is_available()
    gpu = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0") if has_gpu else None
    threads = worker_share().cpu_threads
    return device_label(backend, gpu, str(threads) if threads else None)
