"""The GPU campaign: ``python -m bench.gpu [--dry] [--part NAME ...] [--out FILE]``, each part under 9 minutes
on an H100.

The parts live in bench/_gpu_parts.py, the nvidia-smi sampler in bench/_gpu_smi.py and the
BENCHMARKS.md section in bench/_gpu_report.py; this module runs them and is the command line.

Parts (all by default):
  epoch-time  seconds per epoch of the default dense and CNN models, 55,000 images, one worker;
  scaling     epochs per second summed over 1, 2, 4 and 8 workers sharing GPU 0 (default CNN;
              bench/parallel.py's measure: epochs trained / span of the trials), goal 4 ≥ 2.5 × 1;
  search      ``fmnist-search start --space cnn --workers 4`` for a fixed wall-clock budget, the
              best validation accuracy by time, goal ≥ 0.93 within 10 minutes.
Each measurement runs in its own processes, configured as a worker is (search.runtime.devices), while
nvidia-smi samples GPU utilisation and memory every 500 ms (part c of the issue).

``--dry`` runs every part with tiny sizes on whatever is there (the CPU under JAX, in a few
minutes): it checks the campaign, its figures mean nothing. Without it, a run with no GPU visible
to the backend stops at once. Results go to ``--out`` as JSON; ``--render FILE ...`` merges such
files (e.g. the two device calls' results) into the GPU section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench._gpu_parts import DRY, FULL, best_by_time, environment, part_epoch_time, part_scaling, part_search
from bench._gpu_report import BEGIN, END, merge, render_section, update_benchmarks
from bench._gpu_smi import gpu_monitor, parse_smi, summarise_smi

__all__ = [
    "BEGIN",
    "END",
    "best_by_time",
    "gpu_monitor",
    "main",
    "merge",
    "parse_smi",
    "render_section",
    "run_campaign",
    "summarise_smi",
    "update_benchmarks",
]

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
PARTS = ("epoch-time", "scaling", "search")
# ---------------------------------------------------------------- main


def _commit() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return run.stdout.strip() or "unknown (no git here)"


def run_campaign(parts: list[str], dry: bool) -> dict[str, Any]:
    """The environment, then each part with its wall time; stops at once when a real run sees no GPU."""
    from search.runtime.devices import detect_gpus

    sizes = DRY if dry else FULL
    gpus = detect_gpus()[:1]  # the campaign measures one GPU, shared
    env = environment(gpus)
    print(f"backend {env['backend']}, training on {env['device']}, GPUs: {env['gpus']}", flush=True)
    if not dry and not env["device"].startswith("gpu"):
        raise SystemExit(f"error: no GPU visible to the {env['backend']} backend ({env['device']}); use --dry on a CPU")
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.gpu", *sys.argv[1:]]), "dry": dry, "commit": _commit(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "sizes": asdict(sizes),
        "environment": env, "parts": {},
    }  # fmt: skip
    measure = {"epoch-time": part_epoch_time, "scaling": part_scaling, "search": part_search}
    for part in parts:
        print(f"{part} …", flush=True)
        started = time.time()
        figures = measure[part](sizes, gpus)
        results["parts"][part] = {"seconds": round(time.time() - started, 1), "figures": figures}
        print(f"{part}: {results['parts'][part]['seconds']:.0f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--dry", action="store_true", help="tiny sizes, any device: checks the campaign runs")
    parser.add_argument("--part", action="append", choices=PARTS, help="run only this part (repeatable); default: all")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results-gpu[-dry].json)")
    parser.add_argument(
        "--render",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="write the GPU section of BENCHMARKS.md from these result files, and run nothing",
    )
    args = parser.parse_args()
    from search.runtime.quiet import configure_logging

    configure_logging()
    if args.render:
        missing = [str(p) for p in args.render if not p.is_file()]
        if missing:
            raise SystemExit(f"error: no such result file: {', '.join(missing)}")
        BENCHMARKS.write_text(
            update_benchmarks(BENCHMARKS.read_text(encoding="utf-8"), render_section(merge(args.render))),
            encoding="utf-8",
        )
        print(f"wrote the GPU section of {BENCHMARKS}")
        return
    results = run_campaign(args.part or list(PARTS), args.dry)
    out = args.out or ROOT / "bench" / f"results-gpu{'-dry' if args.dry else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
