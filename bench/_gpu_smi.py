"""The campaign's nvidia-smi sampler (part c of the issue): GPU utilisation and memory every 500 ms."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

SMI_QUERY = "index,utilization.gpu,memory.used,memory.total"


def parse_smi(text: str) -> list[dict[str, float]]:
    """Rows of ``nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total
    --format=csv,noheader,nounits``."""
    samples = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 4:
            continue
        try:
            index, utilisation, used, total = (float(cell) for cell in cells)
        except ValueError:
            continue  # "[N/A]", a header, a line cut off by the stop
        samples.append(
            {"gpu": index, "utilisation_pct": utilisation, "memory_used_mib": used, "memory_total_mib": total}
        )
    return samples


def summarise_smi(samples: list[dict[str, float]]) -> dict[str, Any]:
    """Mean and peak utilisation, peak memory: over all samples of GPU 0 (the one the campaign uses)."""
    gpu0 = [s for s in samples if s["gpu"] == 0]
    if not gpu0:
        return {"samples": 0}
    utilisation = [s["utilisation_pct"] for s in gpu0]
    return {
        "samples": len(gpu0),
        "utilisation_mean_pct": round(sum(utilisation) / len(utilisation), 1),
        "utilisation_max_pct": max(utilisation),
        "memory_used_max_mib": max(s["memory_used_mib"] for s in gpu0),
        "memory_total_mib": gpu0[0]["memory_total_mib"],
    }


@contextlib.contextmanager
def gpu_monitor(summary: dict[str, Any]) -> Iterator[None]:
    """Sample nvidia-smi every 500 ms during the block; fill ``summary`` at its end (or say why there is nothing)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        summary["nvidia_smi"] = "not found: no figures"
        yield
        return
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([smi, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits", "-lms", "500"],
                                   stdout=log, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)
            log.seek(0)
            summary["nvidia_smi"] = summarise_smi(parse_smi(log.read()))
