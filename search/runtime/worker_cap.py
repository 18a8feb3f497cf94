"""How many worker processes `start` really runs: no more than trials are left, no more than memory holds.

Each worker is a process with its own backend runtime, its own copy of the data and its own
model: 16 TensorFlow workers took 10.7 GB for 2 trials on a 2-core machine (issue 11). A worker
that has no trial to run, or that makes the machine swap, only slows the others down.
"""

from __future__ import annotations

import os
from pathlib import Path

# A TensorFlow worker with the data loaded, before its model: 10.7 GB / 16 workers, rounded up.
WORKER_BASE_BYTES = 700 * 2**20
# Per parameter: float32 weights, gradients and the two moments of Adam-like optimizers.
BYTES_PER_PARAM = 16
GIB = 2**30


def worker_footprint(largest_params: int) -> int:
    """Bytes one worker needs at most: its runtime and data, plus training the space's largest model."""
    return WORKER_BASE_BYTES + largest_params * BYTES_PER_PARAM


def available_memory_bytes() -> int | None:
    """Memory the machine can give new processes (MemAvailable), else its physical memory; None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cap_workers(requested: int, trials_left: int | None, memory: int | None, footprint: int) -> tuple[int, str | None]:
    """(workers to run, a one-line warning when fewer than ``requested``). Never fewer than one."""
    workers = requested
    reasons = []
    if trials_left is not None and workers > max(1, trials_left):
        workers = max(1, trials_left)
        reasons.append(f"only {max(0, trials_left)} trial{'s' if trials_left != 1 else ''} left to run")
    if memory is not None:
        fit = max(1, memory // footprint)
        if workers > fit:
            workers = fit
            reasons.append(f"{memory / GIB:.1f} GiB of free memory holds {fit} (about {footprint / GIB:.1f} GiB each)")
    if workers == requested:
        return workers, None
    return workers, f"--workers {requested} capped to {workers}: {' and '.join(reasons)}"
