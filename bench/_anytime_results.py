"""bench.anytime's results file: the runs as stored, the figures over the seeds every tool ran,
merging files of the same comparison, and the Markdown for BENCHMARKS.md."""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.figures import anytime_figures
from bench.studies import SearchRun, TrialRecord

CHECKPOINT_MINUTES = (1, 2, 5, 10, 15, 30, 60)


def checkpoints(minutes: float) -> list[float]:
    """The checkpoints (seconds) within the budget, and the budget itself last."""
    points = [m * 60.0 for m in CHECKPOINT_MINUTES if m < minutes]
    return [*points, minutes * 60.0]


def run_metadata(args: argparse.Namespace) -> dict[str, Any]:
    """What must be equal for runs to be compared or merged, and the machine they ran on."""
    return {
        "family": args.family,
        "minutes": args.minutes,
        "max_epochs": args.epochs,
        "subset": args.subset,
        "parallel": args.parallel,
        "cpu": platform.processor() or _cpu_model(),
        "cores": os.cpu_count(),
    }


def run_entry(seed: int, run: SearchRun, epochs: int, load: tuple[float, float]) -> dict[str, Any]:
    """One run as stored: its seed, duration, epochs trained, load average before and after, trials."""
    return {
        "seed": seed,
        "elapsed_s": run.elapsed_s,
        "epochs": epochs,
        "load_before_after": [round(load[0], 2), round(load[1], 2)],
        "trials": [asdict(t) for t in run.trials],
    }


def summarise(meta: dict[str, Any], entries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The results file: every run, and the figures over the seeds that every tool has run (a
    mean over unequal sets of seeds would compare different draws)."""
    by_seed = {tool: sorted(tool_entries, key=lambda e: e["seed"]) for tool, tool_entries in entries.items()}
    seed_sets = [{e["seed"] for e in tool_entries} for tool_entries in by_seed.values()]
    complete = sorted(set.intersection(*seed_sets)) if seed_sets else []
    chosen = {tool: [e for e in tool_entries if e["seed"] in complete] for tool, tool_entries in by_seed.items()}
    runs = {tool: [_search_run(tool, e) for e in tool_entries] for tool, tool_entries in chosen.items()}
    epochs = {tool: [e["epochs"] for e in tool_entries] for tool, tool_entries in chosen.items()}
    return {
        **meta,
        "seeds": complete,
        "load_average_before_after": {
            tool: [tuple(e["load_before_after"]) for e in tool_entries] for tool, tool_entries in chosen.items()
        },
        "runs": by_seed,
        "epochs": epochs,
        "figures": anytime_figures(runs, epochs, checkpoints(meta["minutes"])),
    }


def _search_run(tool: str, entry: dict[str, Any]) -> SearchRun:
    return SearchRun(f"{tool}-{entry['seed']}", tuple(TrialRecord(**t) for t in entry["trials"]), entry["elapsed_s"])


def entries_of(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The runs of a results file as entries; a file written before entries carried their seed
    lists its runs in the order of its ``seeds``, with epochs and loads in lists beside them."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for tool, tool_runs in results["runs"].items():
        entries[tool] = []
        for i, run in enumerate(tool_runs):
            if "seed" in run:
                entries[tool].append(run)
                continue
            load = results.get("load_average_before_after", {}).get(tool, [])
            entries[tool].append({
                "seed": results["seeds"][i],
                "elapsed_s": run["elapsed_s"],
                "epochs": results["epochs"][tool][i],
                "load_before_after": list(load[i]) if i < len(load) else [0.0, 0.0],
                "trials": run["trials"],
            })  # fmt: skip
    return entries


MERGE_KEYS = ("family", "minutes", "max_epochs", "subset", "parallel")
# A results file from before --parallel existed ran one tool at a time.
MERGE_DEFAULTS = {"parallel": 1}


def merge_results(files: list[dict[str, Any]]) -> dict[str, Any]:
    """Several results files of the same comparison (e.g. seeds run in different sessions) as one.

    ValueError in one line when they compare different things, or when a tool ran a seed twice
    (which run would count is not for this function to guess)."""
    if not files:
        raise ValueError("nothing to merge")
    first = files[0]
    for other in files[1:]:
        for key in MERGE_KEYS:
            if _meta(other, key) != _meta(first, key):
                raise ValueError(
                    f"cannot merge runs with different {key}: {_meta(first, key)!r} and {_meta(other, key)!r}"
                )
    merged: dict[str, list[dict[str, Any]]] = {}
    for results in files:
        for tool, tool_entries in entries_of(results).items():
            merged.setdefault(tool, [])
            for entry in tool_entries:
                if any(e["seed"] == entry["seed"] for e in merged[tool]):
                    raise ValueError(f"{tool} ran seed {entry['seed']} in more than one file")
                merged[tool].append(entry)
    cpus = sorted({str(results.get("cpu")) for results in files})
    meta = {**{key: _meta(first, key) for key in MERGE_KEYS}, "cpu": " / ".join(cpus), "cores": first.get("cores")}
    return summarise(meta, merged)


def _meta(results: dict[str, Any], key: str) -> Any:
    return results.get(key, MERGE_DEFAULTS.get(key))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def runs_from_json(results: dict[str, Any]) -> dict[str, list[SearchRun]]:
    """The runs behind a results file's figures (the seeds every tool ran), to recompute them from."""
    seeds = set(results["seeds"])
    return {
        tool: [_search_run(tool, e) for e in tool_entries if e["seed"] in seeds]
        for tool, tool_entries in entries_of(results).items()
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}"


def render(results: dict[str, Any]) -> str:
    """Markdown: the best-so-far table, then time-to-reach ratios."""
    figures = results["figures"]
    minutes = [f"{s / 60:g} min" for s in figures["checkpoints_s"]]
    data = f"{results['subset']} images" if results.get("subset") else "full data"
    parallel = _meta(results, "parallel")
    at_once = "one run at a time" if parallel == 1 else f"{parallel} runs at a time, one core each"
    lines = [
        f"{results['family']}, {results['minutes']:g} min per run, max {results['max_epochs']} epochs, "
        f"{data}, seeds {', '.join(map(str, results['seeds']))}; "
        f"{results['cpu']}, {results['cores']} cores, {at_once}",
        "",
        f"| tool (mean best val acc %) | {' | '.join(minutes)} | epochs trained (per seed) | trials |",
        f"|---|{'---|' * len(minutes)}---|---|",
    ]
    for tool, figure in figures["tools"].items():
        curve = " | ".join(_pct(v) for v in figure["curve"])
        lines.append(
            f"| {tool} | {curve} | {', '.join(map(str, figure['epochs']))} | {', '.join(map(str, figure['trials']))} |"
        )
    lines += [
        "",
        "| time to reach the final best of → | " + " | ".join(figures["tools"]) + " |",
        f"|---|{'---|' * len(figures['tools'])}",
    ]
    for a in figures["tools"]:
        cells = []
        for b in figures["tools"]:
            if a == b:
                cells.append("—")
                continue
            entry = figures["reach"][a][b]
            seconds = ", ".join(
                "no result to reach" if target is None else "never" if s is None else f"{s:.0f} s"
                for s, target in zip(entry["seconds"], entry.get("targets", [0.0] * len(entry["seconds"])), strict=True)
            )
            ratio = "" if entry["ratio"] is None else f" (×{entry['ratio']:.2f})"
            cells.append(f"{seconds}{ratio}")
        lines.append(f"| {a} | {' | '.join(cells)} |")
    loads = results.get("load_average_before_after", {})
    if loads:
        shown = "; ".join(f"{tool} " + ", ".join(f"{a:g}→{b:g}" for a, b in pairs) for tool, pairs in loads.items())
        lines += ["", f"Load average (1 min) before→after each run, {results['cores']} cores: {shown}."]
    return "\n".join(lines)
