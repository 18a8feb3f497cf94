"""bench.epoch_time ``--compare``, in the parent process: each configuration in child processes,
round-robin over the rounds, and the ratios to the default with the accuracy kept or not."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench._common import median, print_table
from bench._epoch_time_child import RESULT_PREFIX
from bench._epoch_time_configs import BASELINE, DEFAULT_CONFIGS, FULL_TRAIN, Config, available_configs, config_env


def run_config(name: str, config: Config, args: argparse.Namespace, seed: int) -> list[dict[str, Any]]:
    """Run ``config`` in ``config.workers`` child processes at once; each child's results."""
    families = [f for f in args.families if f in config.families]
    with tempfile.TemporaryDirectory(prefix="epoch-time-") as barrier:
        command = [
            sys.executable,
            "-m",
            "bench.epoch_time",
            "--child",
            "--epochs",
            str(args.epochs),
            "--seed",
            str(seed),
            "--families",
            *families,
        ]
        command += [
            *(["--subset", str(args.subset)] if args.subset else []),
            *(["--data-dir", args.data_dir] if args.data_dir else []),
        ]
        command += [*(["--batch-size", str(config.batch_size)] if config.batch_size else [])]
        command += ["--barrier", barrier] if config.workers > 1 else []
        children = [
            subprocess.Popen(
                command,
                env=os.environ | config_env(config, w),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in range(config.workers)
        ]
        if config.workers > 1:
            _release(barrier, families, config.workers, children)
        outputs = [child.communicate() for child in children]
    results = []
    for child, (out, err) in zip(children, outputs, strict=True):
        lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
        if child.returncode != 0 or not lines:
            raise RuntimeError(
                f"configuration {name} failed (exit {child.returncode}): {(err or out).strip().splitlines()[-1:]}"
            )
        results.append(json.loads(lines[-1][len(RESULT_PREFIX) :]))
    return results


def _release(barrier: str, families: list[str], workers: int, children: list[subprocess.Popen[str]]) -> None:
    for family in families:
        while len(list(Path(barrier).glob(f"ready-{family}-*"))) < workers:
            if any(child.poll() is not None for child in children):
                return  # one died: its error is read by the caller
            time.sleep(0.05)
        Path(barrier, f"go-{family}").touch()


def steady_seconds(result: dict[str, Any], family: str, workers: int) -> float:
    """Train seconds of one epoch after the first, scaled to the full train split; per pair of
    workers' epochs when several ran at once."""
    run = result[family]
    train = [total - val for total, val in zip(run["epoch_s"][1:], run["val_s"][1:], strict=True)]
    return median(train) * FULL_TRAIN / result["n_train"] / workers


def summarize(
    rounds: list[dict[str, dict[str, Any]]], configs: dict[str, Config], families: list[str]
) -> list[dict[str, Any]]:
    """Per family and configuration: median seconds, median per-round ratio to the baseline,
    validation accuracy against its spread."""
    rows = []
    for family in families:
        base_acc = [r[BASELINE][family]["val_accuracy"] for r in rounds]
        noise = 2 * statistics.stdev(base_acc) if len(base_acc) > 1 else 0.0
        for name, config in configs.items():
            if family not in config.families:
                continue
            seconds = [r[name][family]["seconds"] for r in rounds]
            ratios = [r[BASELINE][family]["seconds"] / r[name][family]["seconds"] for r in rounds]
            acc = [r[name][family]["val_accuracy"] for r in rounds]
            delta = statistics.mean(acc) - statistics.mean(base_acc)
            rows.append({
                "family": family, "config": name, "median_s": median(seconds), "seconds": seconds,
                "ratio": median(ratios), "ratios": ratios, "val_accuracy": acc, "val_delta": delta,
                "accuracy_kept": delta >= -noise, "note": config.note,
            })  # fmt: skip
    return rows


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration, round-robin over ``args.repeats`` rounds; the rows and raw figures."""
    from search.runtime.choice import read_cpu_flags

    configs = available_configs(args.configs)
    if BASELINE not in configs:
        raise SystemExit(f"error: --configs must include {BASELINE!r}, the configuration every ratio is against")
    skipped = sorted(set(args.configs or DEFAULT_CONFIGS) - set(configs))
    print(f"{len(configs)} configurations x {args.repeats} rounds, {args.epochs} epochs each on "
          f"{args.subset or FULL_TRAIN} images{'; not available here: ' + ', '.join(skipped) if skipped else ''}",
          flush=True)  # fmt: skip
    rounds: list[dict[str, dict[str, Any]]] = []
    raw: list[dict[str, Any]] = []
    for seed in range(args.repeats):
        row: dict[str, dict[str, Any]] = {}
        for name, config in configs.items():
            started = time.perf_counter()
            results = run_config(name, config, args, seed)
            raw.append({"round": seed, "config": name, "results": results})
            row[name] = {
                family: {
                    "seconds": median([steady_seconds(r, family, config.workers) for r in results]),
                    "val_accuracy": statistics.mean(r[family]["val_accuracy"][-1] for r in results),
                }
                for family in args.families
                if family in config.families
            }
            figures = "  ".join(f"{f} {v['seconds']:.2f} s" for f, v in row[name].items())
            print(
                f"round {seed + 1}/{args.repeats}  {name:<18} {figures}  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        rounds.append(row)
    rows = summarize(rounds, configs, args.families)
    flags = sorted({"avx512_bf16", "amx_bf16", "amx_tile", "avx512f"} & read_cpu_flags())
    return {"args": vars(args), "cpu": _cpu_model(), "cpu_flags": flags, "cpus": os.cpu_count(), "rows": rows,
            "raw": raw, "configs": {name: asdict(config) for name, config in configs.items()}}  # fmt: skip


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def print_comparison(report: dict[str, Any]) -> None:
    print(f"\n{report['cpu']}, {report['cpus']} CPUs, flags {', '.join(report['cpu_flags']) or 'none of note'}; "
          f"the CPU may be shared: compare ratios, not seconds\n")  # fmt: skip
    table = [
        (r["family"], r["config"], f"{r['median_s']:.2f}", f"{r['ratio']:.2f}x",
         f"{statistics.mean(r['val_accuracy']):.4f}", f"{r['val_delta']:+.4f}",
         "yes" if r["accuracy_kept"] else "NO", r["note"])
        for r in report["rows"]
    ]  # fmt: skip
    print_table(
        ("model", "config", "s/epoch (55k)", "speed vs default", "val acc", "vs default", "acc kept", "note"), table
    )
