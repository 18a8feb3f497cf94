"""Where one trial's time goes outside ``model.fit``: pyinstrument over the real worker path.

Runs ``run_worker`` on fresh one-trial studies of the default dense model (the same set-up as
side C of bench/overhead.py) under pyinstrument: the first call in the process ("cold": it pays
the first imports of matplotlib, plotly and optuna-dashboard, and the first ``gc.freeze``),
then ``--repeats`` more ("warm", what bench/overhead.py times). For each profiled call it
prints the top frames by wall-clock seconds outside Keras's ``fit``, and can save the full
pyinstrument report as HTML.

    python -m bench.profile_trial [--subset 20000] [--epochs 3] [--repeats 2] [--html DIR]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Trial files go to a scratch folder, never to the user's artifact store.
_WORKDIR = Path(tempfile.mkdtemp(prefix="fmnist-bench-profile-"))
os.environ.setdefault("FMNIST_ARTIFACTS", str(_WORKDIR / "artifacts"))

from search.runtime.quiet import import_keras

import_keras()

import argparse
import shutil
import time
from dataclasses import dataclass

from pyinstrument import Profiler
from pyinstrument.frame import Frame

from bench._common import write_default_space
from search.engines.optuna.worker import WorkerJob, run_worker
from search.study.settings import start_or_resume
from storage import open_storage

# Frames worth naming in the summary: the parts of a trial the worker adds around training.
_WATCHED = (
    "open_storage",
    "open_study",
    "Budget.__init__",
    "claim",
    "keras_objective",
    "load_train_val",
    "freeze_long_lived_objects",
    "suggest",
    "sample_relative",
    "sample_independent",
    "_fit",
    "fit",
    "release_trial_memory",
    "set_user_attr",
    "report",
    "should_prune",
    "attach_report",
    "render_learning_curve",
    "upload_artifact",
    "save_note",
    "update_plots",
    "accuracy_vs_parameters",
    "save_plotly_graph_object",
    "get_trials",
    "_tell_with_warning",
    "tell",
)


@dataclass(frozen=True)
class Profiled:
    label: str
    total_s: float
    seconds: dict[str, float]  # watched frame name -> wall seconds (outermost occurrence, summed)
    profiler: Profiler


def _watched_seconds(root: Frame) -> dict[str, float]:
    """Seconds per watched function, counting nested calls of the same name once."""
    seconds: dict[str, float] = {}

    def visit(frame: Frame, open_names: frozenset[str]) -> None:
        name = frame.function or ""
        qualified = f"{frame.class_name}.{name}" if frame.class_name else name
        key = next((k for k in (qualified, name) if k in _WATCHED), None)
        if key and key not in open_names:
            seconds[key] = seconds.get(key, 0.0) + frame.time
            open_names = open_names | {key}
        for child in frame.children:
            visit(child, open_names)

    visit(root, frozenset())
    return seconds


def profile_worker(workdir: Path, space_file: Path, number: int, subset: int, epochs: int) -> Profiled:
    url = f"sqlite:///{workdir / f'study-{number}.db'}"
    name = f"profile-{number}"
    start_or_resume(
        open_storage(url), name, space=str(space_file), max_epochs=epochs, pruner="none", seed=0,
        subset=subset, n_trials=1,
    )  # fmt: skip
    profiler = Profiler(interval=0.001)
    started = time.perf_counter()
    with profiler:
        ran = run_worker(WorkerJob(url, name))
    total = time.perf_counter() - started
    assert ran == 1, ran
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    return Profiled("cold" if number == 1 else "warm", total, _watched_seconds(root) if root else {}, profiler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=20000, help="train images (stratified sample)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="warm calls after the cold one")
    parser.add_argument("--html", default=None, help="also save each full profile as HTML in this folder")
    parser.add_argument("--text", action="store_true", help="print pyinstrument's own tree of each call too")
    args = parser.parse_args()

    space_file = write_default_space(_WORKDIR, "dense")
    runs: list[Profiled] = []
    try:
        for number in range(1, args.repeats + 2):
            runs.append(profile_worker(_WORKDIR, space_file, number, args.subset, args.epochs))
    finally:
        shutil.rmtree(_WORKDIR, ignore_errors=True)

    print(f"load average: {os.getloadavg()[0]:.1f}; dense default, {args.subset} images, {args.epochs} epochs\n")
    header = ["frame"] + [f"{r.label} {n + 1}" for n, r in enumerate(runs)]
    print(" | ".join(header))
    print(" | ".join(["total"] + [f"{r.total_s:.3f}" for r in runs]))
    for key in _WATCHED:
        if any(key in r.seconds for r in runs):
            print(" | ".join([key] + [f"{r.seconds.get(key, 0.0):.3f}" for r in runs]))
    for n, run in enumerate(runs):
        if args.text:
            print(f"\n===== {run.label} {n + 1} =====")
            print(run.profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            folder = Path(args.html)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"trial-{n + 1}-{run.label}.html").write_text(run.profiler.output_html(), encoding="utf-8")


if __name__ == "__main__":
    main()
