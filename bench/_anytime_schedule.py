"""bench.anytime's scheduler: every (tool, seed) run, one at a time on every core or ``--parallel``
at a time each pinned to a core of its own, the results file rewritten after each."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._anytime_results import run_entry, run_metadata, summarise
from bench._anytime_tools import GRACE_S, collect, launch, stop
from bench.studies import SearchRun


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
            shown = best if best is None else f"{best:.4f}"
            print(f"        {tool}, seed {seed}: {len(run.trials)} trials, {trained} epochs, best {shown}", flush=True)
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
