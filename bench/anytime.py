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
    python -m bench.anytime --merge bench/anytime-dense.json bench/anytime-dense-s2.json \
        --out bench/anytime-dense-all.json
    python -m bench.anytime --family dense --minutes 5 --seeds 0 \
        --tools fmnist-search fmnist-search-tensorflow                    # the backend choice
    python -m bench.anytime --render bench/anytime-dense.json

The tools' commands are in bench/_anytime_tools.py, the scheduler that runs them in
bench/_anytime_schedule.py, and the results file (figures, merge, Markdown) in bench/_anytime_results.py.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench._anytime_results import checkpoints, merge_results, render, run_entry, runs_from_json, summarise
from bench._anytime_schedule import rotated, run_all, schedule
from bench._anytime_tools import EXTRA_TOOLS, ONE_THREAD, TOOLS, command, tool_env

__all__ = [
    "ONE_THREAD",
    "checkpoints",
    "command",
    "main",
    "merge_results",
    "render",
    "rotated",
    "run_entry",
    "runs_from_json",
    "schedule",
    "summarise",
    "tool_env",
]


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
                        help="combine results files of the same comparison (seeds run at different times) "
                             "into --out")  # fmt: skip
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
