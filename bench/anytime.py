"""Anytime performance: the best model found after 1, 2, 5, 10 and 15 minutes, four ways.

Each for the same wall-clock budget, on the same space and data: fmnist-search's default
``start`` (as a user types it); ``default-only``, the family default point trained again and
again with fresh seeds (what a user gets without any search: the bar every search must clear);
KerasTuner's Hyperband on that space through the project's adapter (``start --engine
keras-tuner``, factor 3); and a plain Optuna loop (TPE + HyperbandPruner, ``bench/plain_optuna.py``:
no worker, store, budget or defaults of ours). Each runs as its own process in a fresh SQLite
store; its clock starts when the process is launched, so imports and data loading count, as they
do for a user. Only trials that ended within the budget count. The order of the tools rotates
with the seed, so that none always runs first on a machine whose load drifts.

``--parallel N`` runs N tools at a time, each pinned to a core of its own (CPU affinity, and one
intra-op thread for every tool alike), so that the four tools over three seeds fit in about an
hour of a 2-core machine; the pairs change with the seed, as the order does. Runs at different
``--parallel`` do not compare (one core each against all of them) and do not merge.

The results file is rewritten after every run, so a run cut short keeps what finished. The
figures cover the seeds that every tool has run; ``--merge`` joins files of the same comparison
(seeds, or a seed's remaining tools, run in another session) into one.

Prints, per tool, the mean best-so-far validation accuracy over the seeds at each checkpoint, the
final best, epochs trained and trials; and how long each tool took to reach each other's final
best, as a ratio (below 1: sooner). Writes everything to JSON; ``--render`` prints the Markdown
for BENCHMARKS.md from such a file.

    python -m bench.anytime --family dense --minutes 10 --parallel 2     # 4 tools x 3 seeds: about an hour
    python -m bench.anytime --family cnn --minutes 60 --epochs 15          # CNN: 9 hours on a CPU
    python -m bench.anytime --family dense --seeds 2 --out bench/anytime-dense-s2.json   # later
    python -m bench.anytime --merge bench/anytime-dense.json bench/anytime-dense-s2.json --out bench/anytime-dense-all.json
    python -m bench.anytime --family dense --minutes 5 --seeds 0 --tools fmnist-search fmnist-search-tensorflow  # the backend choice
    python -m bench.anytime --render bench/anytime-dense.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna

from bench.figures import anytime_figures
from bench.studies import SearchRun, TrialRecord, records_of

TOOLS = ("fmnist-search", "default-only", "keras-tuner", "plain-optuna")
# Not run unless named in --tools: fmnist-search pinned to TensorFlow, to weigh a choice of
# backend (search/runtime/choice.py) side by side: run with KERAS_BACKEND unset and the choice in force;
# fmnist-search with plain TPE (--sampler tpe), to weigh the prior-guided sampler against it.
EXTRA_TOOLS = ("fmnist-search-tensorflow", "fmnist-search-tpe")
# The plain loops of bench/plain_optuna.py, and the Optuna study each one writes.
PLAIN_STUDIES = {"plain-optuna": "plain-optuna", "default-only": "default-only"}
# One core each under --parallel: every thread pool a tool's backend sizes from the environment.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
CHECKPOINT_MINUTES = (1, 2, 5, 10, 15, 30, 60)
# A tool stops at an epoch end once its time is up; this long after it, whatever runs is killed.
GRACE_S = 240
STUDY = "anytime"


def command(tool: str, family: str, seed: int, args: argparse.Namespace, url: str) -> list[str]:
    """The command line of one run: what a user of each tool would type."""
    budget_s = str(round(args.minutes * 60))
    common = ["--epochs", str(args.epochs), "--seed", str(seed), "--storage", url]
    data = (["--subset", str(args.subset)] if args.subset else []) + (
        ["--data-dir", args.data_dir] if args.data_dir else []
    )
    if tool in PLAIN_STUDIES:
        default_only = ["--default-only"] if tool == "default-only" else []
        return [
            sys.executable,
            "-m",
            "bench.plain_optuna",
            "--space",
            family,
            "--minutes",
            str(args.minutes),
            *default_only,
            *common,
            *data,
        ]
    engine = ["--engine", "keras-tuner"] if tool == "keras-tuner" else []
    sampler = ["--sampler", "tpe"] if tool == "fmnist-search-tpe" else []
    return [
        sys.executable,
        "-m",
        "search",
        "start",
        "--space",
        family,
        "--study",
        STUDY,
        "--timeout",
        budget_s,
        *engine,
        *sampler,
        *common,
        *data,
    ]


def tool_env(tool: str, env: Mapping[str, str], one_core: bool = False) -> dict[str, str]:
    """A run's environment: KerasTuner's, the plain loops' and default-only's users get Keras'
    default backend (TensorFlow); fmnist-search picks its own unless pinned
    (``fmnist-search-tensorflow``); ``one_core``: every backend's thread pools sized to one core."""
    env = {k: v for k, v in env.items() if k != "KERAS_BACKEND"}
    if tool not in ("fmnist-search", "fmnist-search-tpe"):
        env["KERAS_BACKEND"] = "tensorflow"
    return {**env, **ONE_THREAD} if one_core else env


def _epochs_trained(study: optuna.Study) -> int:
    """Every epoch any trial trained, cut-short ones included (KerasTuner's continued trials count their own)."""
    total = 0
    for trial in study.get_trials(deepcopy=False):
        own = trial.user_attrs.get("epochs_trained")
        total += int(own) if own is not None else len(trial.intermediate_values)
    return total


def launch(
    tool: str, family: str, seed: int, args: argparse.Namespace, workdir: Path, core: int | None
) -> subprocess.Popen[bytes]:
    """Start one tool's run in a fresh store, its output to a log in ``workdir``; ``core``: pinned to it."""
    url = f"sqlite:///{workdir / f'{tool}-{seed}.db'}"
    log = (workdir / f"{tool}-{seed}.log").open("w")
    # taskset sets the affinity, then execs the tool: every process it starts (its workers too) inherits it.
    pinned = [] if core is None else ["taskset", "--cpu-list", str(core)]
    try:
        return subprocess.Popen(
            [*pinned, *command(tool, family, seed, args, url)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=tool_env(tool, os.environ, one_core=core is not None),
        )
    finally:
        log.close()  # the child holds its own copy


def collect(tool: str, seed: int, workdir: Path, started: float) -> tuple[SearchRun, int]:
    """A finished run's trials and epochs trained, read back from its store."""
    url = f"sqlite:///{workdir / f'{tool}-{seed}.db'}"
    elapsed = time.time() - started
    try:
        study = optuna.load_study(study_name=PLAIN_STUDIES.get(tool, STUDY), storage=url)
    except KeyError:  # it never got as far as creating its study
        tail = (workdir / f"{tool}-{seed}.log").read_text().strip().splitlines()[-3:]
        raise SystemExit(f"error: {tool} (seed {seed}) created no study; its log ends: {' | '.join(tail)}") from None
    return SearchRun(f"{tool}-{seed}", records_of(study, started), elapsed), _epochs_trained(study)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a run's whole process group (its workers too) if it is still there."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_one(tool: str, family: str, seed: int, args: argparse.Namespace, workdir: Path) -> tuple[SearchRun, int]:
    """Run one tool for the budget in a fresh store, on every core; return its finished trials and epochs trained.

    The store and the tool's log stay in ``workdir`` (``--keep`` keeps them after the run).
    """
    started = time.time()
    process = launch(tool, family, seed, args, workdir, core=None)
    try:
        process.wait(timeout=args.minutes * 60 + GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(process)  # past the grace period, or Ctrl-C here: take the run down with us
    return collect(tool, seed, workdir, started)


def checkpoints(minutes: float) -> list[float]:
    """The checkpoints (seconds) within the budget, and the budget itself last."""
    points = [m * 60.0 for m in CHECKPOINT_MINUTES if m < minutes]
    return [*points, minutes * 60.0]


def run_all(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Every tool for every seed, ``args.parallel`` at a time; ``out`` is rewritten after each run, so a
    run cut short (a session ends, Ctrl-C) keeps the ones that finished (``--merge`` adds the rest)."""
    meta = run_metadata(args)
    entries: dict[str, list[dict[str, Any]]] = {tool: [] for tool in args.tools}
    results = summarise(meta, entries)
    jobs = schedule(args.tools, args.seeds)
    with tempfile.TemporaryDirectory(prefix="fmnist-anytime-") as folder:
        workdir = Path(args.keep or folder)
        workdir.mkdir(parents=True, exist_ok=True)

        def finished(tool: str, seed: int, run: SearchRun, trained: int, load: tuple[float, float]) -> None:
            nonlocal results
            entries[tool].append(run_entry(seed, run, trained, load))
            best = max((t.value for t in run.trials if t.value is not None), default=None)
            print(
                f"        {tool}, seed {seed}: {len(run.trials)} trials, {trained} epochs, best {best if best is None else f'{best:.4f}'}",
                flush=True,
            )
            results = summarise(meta, entries)
            out.write_text(json.dumps(results, indent=1))

        if args.parallel == 1:
            for done, (tool, seed) in enumerate(jobs, 1):
                announce(done, len(jobs), tool, seed, args.minutes, None)
                # The 1-minute load average before and after each run: other work on the machine shows here.
                load_before = os.getloadavg()[0]
                run, trained = run_one(tool, args.family, seed, args, workdir)
                finished(tool, seed, run, trained, (load_before, os.getloadavg()[0]))
        else:
            run_pinned(jobs, args, workdir, finished)
    return results


def schedule(tools: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """The (tool, seed) runs in the order they start: seed by seed, the tools rotated by the seed."""
    return [(tool, seed) for seed in seeds for tool in rotated(tools, seed)]


def announce(done: int, total: int, tool: str, seed: int, minutes: float, core: int | None) -> None:
    ends = time.strftime("%H:%M", time.localtime(time.time() + minutes * 60))
    where = "" if core is None else f" on core {core}"
    print(f"[{done}/{total}] {tool}, seed {seed}{where}: {minutes:g} min (ends about {ends})", flush=True)


def run_pinned(jobs: list[tuple[str, int]], args: argparse.Namespace, workdir: Path, finished: Any) -> None:
    """Run ``args.parallel`` jobs at a time, each pinned to a core of its own; a freed core takes the next job."""
    pending = list(jobs)
    running: dict[int, tuple[str, int, subprocess.Popen[bytes], float, float]] = {}
    started_count = 0
    try:
        while pending or running:
            for core in range(args.parallel):
                if core not in running and pending:
                    tool, seed = pending.pop(0)
                    started_count += 1
                    announce(started_count, len(jobs), tool, seed, args.minutes, core)
                    process = launch(tool, args.family, seed, args, workdir, core)
                    running[core] = (tool, seed, process, time.time(), os.getloadavg()[0])
            time.sleep(1.0)
            for core, (tool, seed, process, started, load_before) in list(running.items()):
                overdue = time.time() > started + args.minutes * 60 + GRACE_S
                if process.poll() is None and not overdue:
                    continue
                stop(process)
                del running[core]
                run, trained = collect(tool, seed, workdir, started)
                finished(tool, seed, run, trained, (load_before, os.getloadavg()[0]))
    finally:
        for _, _, process, _, _ in running.values():  # Ctrl-C: take every run down with us
            stop(process)


def rotated(tools: list[str], seed: int) -> list[str]:
    """The tools in the order they run for ``seed``: rotated by the seed, so that none always runs
    first on a machine whose load drifts, and a seed runs in the same order in any invocation."""
    shift = seed % len(tools)
    return tools[shift:] + tools[:shift]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="dense", help="a built-in space or a space file")
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock budget of each run")
    parser.add_argument("--epochs", type=int, default=20, help="most epochs per trial, the same for every tool")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS + EXTRA_TOOLS)
    parser.add_argument("--subset", type=int, default=None, help="train images (default: all 55,000)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time, each pinned to a core of its own")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--keep", metavar="DIR", default=None, help="keep each run's store and log in this folder")
    parser.add_argument("--out", default=None, help="results JSON (default bench/anytime-FAMILY.json)")
    parser.add_argument("--render", metavar="JSON", default=None, help="print the Markdown of a results file and exit")
    parser.add_argument("--merge", metavar="JSON", nargs="+", default=None,
                        help="combine results files of the same comparison (seeds run at different times) into --out")  # fmt: skip
    args = parser.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return
    out = Path(args.out or f"bench/anytime-{Path(args.family).stem}.json")
    if args.merge:
        try:
            results = merge_results([json.loads(Path(name).read_text()) for name in args.merge])
        except (OSError, ValueError, KeyError) as error:
            parser.exit(2, f"error: {error}\n")
    else:
        if args.minutes <= 0 or args.epochs < 1:
            parser.error("--minutes must be positive and --epochs at least 1")
        if not 1 <= args.parallel <= len(os.sched_getaffinity(0)):
            parser.error(
                f"--parallel must lie in [1, {len(os.sched_getaffinity(0))}] (a core each), but got {args.parallel}"
            )
        results = run_all(args, out)
    out.write_text(json.dumps(results, indent=1))
    print(render(results))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
