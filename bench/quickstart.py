"""The quick start's search, over several seeds: does a sampled trial beat the default it starts from?

``python -m bench.quickstart --seeds 0 1 2 [--evaluate 0] [--out FILE]``

Each seed runs exactly the search of ``scripts/quickstart.sh`` (12 trials or 5 minutes, 3 epochs on
20,000 images) in a fresh SQLite store, through the real CLI. Per seed: the best trial, whether it
is the enqueued default (``warm_start``) or a sampled one, the default's value and the best sampled
value. For the seeds named in ``--evaluate``, the best trial is then exported (retrained twice on
all 60,000 images) and evaluated once on the test set, as the quick start does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from search.results.evaluation import REPORT_FILE
from search.study.pruner import DEFAULTS

SEARCH = ["--space", "spaces/examples/quickstart.toml", "--trials", "12", "--timeout", "300", "--epochs", "3",
          "--subset", "20000"]  # fmt: skip
State = optuna.trial.TrialState


def _cli(*args: str, env: dict[str, str]) -> None:
    run = subprocess.run([sys.executable, "-m", "search", *args], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"fmnist-search {' '.join(args)} exited {run.returncode}: {run.stderr.strip()[-1500:]}")


def one_seed(seed: int, evaluate: bool, folder: Path) -> dict[str, Any]:
    url, study_name = f"sqlite:///{folder / 'quickstart.db'}", f"quickstart-cnn-s{seed}"
    env = os.environ | {"FMNIST_SEARCH_HOME": str(folder), "FMNIST_ARTIFACTS": str(folder / "artifacts")}
    started = time.time()
    _cli("start", *SEARCH, "--seed", str(seed), "--study", study_name, "--storage", url, env=env)
    figures: dict[str, Any] = {"seed": seed, "search_s": round(time.time() - started, 1)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=url)
    complete = study.get_trials(deepcopy=False, states=(State.COMPLETE,))
    default = [t for t in complete if t.user_attrs.get("warm_start") == DEFAULTS]
    sampled = [t for t in complete if t.user_attrs.get("warm_start") is None]
    best = max(complete, key=lambda t: t.value or 0.0)
    figures |= {
        "finished": len(study.get_trials(deepcopy=False, states=(State.COMPLETE, State.PRUNED))),
        "pruned": len(study.get_trials(deepcopy=False, states=(State.PRUNED,))),
        "default_val": round(default[0].value, 4) if default else None,
        "best_sampled_val": round(max(t.value or 0.0 for t in sampled), 4) if sampled else None,
        "best_trial": best.number,
        "best_is_sampled": best.user_attrs.get("warm_start") is None,
        "best_val": round(best.value or 0.0, 4),
        "best_params": best.params,
    }
    if evaluate:
        out = folder / "out"
        _cli("export", "--study", study_name, "--storage", url, "--repeats", "2", "--out", str(out), env=env)
        export = max((out / "exports").iterdir(), key=lambda p: p.stat().st_mtime)
        _cli("evaluate", str(export), env=env)
        report = json.loads((export / REPORT_FILE).read_text(encoding="utf-8"))
        figures["test_accuracy"] = report["test_accuracy"]
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--evaluate", type=int, nargs="*", default=[0], help="seeds whose best is exported and tested")
    parser.add_argument("--out", type=Path, default=Path("bench/quickstart-seeds.json"))
    args = parser.parse_args(argv)
    results = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix=f"fmnist-quickstart-{seed}-") as tmp:
            figures = one_seed(seed, seed in args.evaluate, Path(tmp))
        results.append(figures)
        tested = f"  test {figures['test_accuracy']['mean']:.2%}" if "test_accuracy" in figures else ""
        kind = "sampled" if figures["best_is_sampled"] else "default"
        print(f"seed {seed}: best trial {figures['best_trial']} ({kind}) {figures['best_val']:.2%} val; "
              f"default {figures['default_val']:.2%}{tested}", flush=True)  # fmt: skip
    wins = sum(r["best_is_sampled"] for r in results)
    summary = {"command": "python -m bench.quickstart " + " ".join(sys.argv[1:]), "sampled_best_in": wins,
               "seeds": results}  # fmt: skip
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"a sampled trial was best in {wins} of {len(results)} seeds; wrote {args.out}")


if __name__ == "__main__":
    main()
