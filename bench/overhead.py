"""Overhead of fmnist-search over a plain Keras script, for one trial of the default dense model.

Four sides, interleaved (A N B C, A N B C, ...) after one discarded warm-up of each:

  A  plain:      ``keras.utils.set_random_seed``, ``build_model(defaults)``, ``model.fit(...)``
                 on data already in memory. Its session is cleared afterwards, untimed (the TF
                 custom-gradient registry entries the fit added are dropped too, so the process
                 does not grow from round to round and slow the later collections). As a
                 diagnostic, ``clear_session()`` (which runs ``gc.collect()``) and one more
                 ``gc.collect()`` are timed apart; and, if nothing in the process is frozen
                 yet, one more ``gc.collect()`` with every older object frozen (``gc.freeze()``,
                 undone at once), to show what a full collection costs once TF's objects are
                 out of its way. (If run_worker froze the long-lived objects, as fmnist-search
                 does since 47d4f51, the freeze stays and the plain collections are already cheap.)
  N  diagnostic: A with ``callbacks=[keras.callbacks.TerminateOnNaN()]``, the one callback
                 train_trial adds that acts on every batch (it turns off Keras's asynchronous
                 batch-end dispatch), to tell its cost from fmnist-search's own.
  B  trial:      ``study.optimize(train_trial, n_trials=1)`` on a fresh study in a temporary
                 SQLite store (WAL), data already in memory: sampling, per-epoch ``report`` and
                 ``should_prune``, user attributes, heartbeats, the trial's memory clean-up.
  C  run_worker: ``run_worker(WorkerJob(...))`` on a fresh study: opens the store, loads the
                 data itself (warm .npy cache), runs the trial, checks the budget.

The study's space fixes every key of the default dense model, so all sides train the same
network on the same stratified subset with the same seed (trial 0 of a study seeded S uses
seed S, and A uses S). TensorFlow is imported once before any timing; process start and
imports are not counted; creating each study (``start_or_resume``) is not counted either.
``load_train_val`` alone is also timed on each round, since C includes it.

The ratio B / A (and C / A) is given three ways. The headline is the median of the
per-round ratios: the sides of one round run back to back, so they share the machine's load
of the moment. Also shown: median total over median total (misleading when the load shifts
during the run), and "fit-normalised": A's median total plus the side's fixed cost outside
``model.fit`` (total minus fit, less A's), over A's median total. ``model.fit`` time swings
by seconds with other load on a shared machine, the cost outside it much less, so this is
the steadiest estimate of the overhead; it assumes the fit itself costs the same on all
sides, which the N side and the model.fit column let you check.

The sides are in bench/_overhead_sides.py; this module runs and compares them.

    python -m bench.overhead [--subset 20000] [--epochs 3] [--repeats 5]

``measure_overhead`` runs sides A and C alone; ``python -m bench`` uses it.
"""

from __future__ import annotations

import argparse
import gc
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench._common import median, print_table, save_json
from bench._overhead_sides import Bench, Run

__all__ = ["Overhead", "main", "measure_overhead"]


@dataclass(frozen=True)
class Overhead:
    """Plain model.fit (A) vs the whole run_worker path (C), one pair of sides per round."""

    plain: list[Run]
    worker: list[Run]

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios C / A: the sides of one round share the machine's load."""
        return median([c.total_s / a.total_s for a, c in zip(self.plain, self.worker, strict=True)])

    @property
    def fixed_extra_s(self) -> float:
        """C's cost outside model.fit, less A's: what fmnist-search adds per trial."""
        return median([r.total_s - r.fit_s for r in self.worker]) - median([r.total_s - r.fit_s for r in self.plain])

    @property
    def fit_normalised_ratio(self) -> float:
        """A's median total plus C's fixed extra, over A's median total (steadiest under shifting load)."""
        plain_s = median([r.total_s for r in self.plain])
        return (plain_s + self.fixed_extra_s) / plain_s


def measure_overhead(
    workdir: Path, subset: int, epochs: int, repeats: int, seed: int = 0, on_round: Callable[[int], None] | None = None
) -> Overhead:
    """One discarded warm-up, then ``repeats`` rounds of A (plain) and C (run_worker), back to back."""
    bench = Bench(workdir, subset, epochs, seed)
    bench.plain(), bench.worker()  # warm-up: tracing, first imports, the first gc.freeze()
    plain: list[Run] = []
    worker: list[Run] = []
    for n in range(repeats):
        plain.append(bench.plain())
        worker.append(bench.worker())
        if on_round:
            on_round(n + 1)
    return Overhead(plain, worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=20000, help="train images (stratified sample)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fmnist-bench-overhead-"))
    try:
        bench = Bench(workdir, args.subset, args.epochs, args.seed)
        print(f"dense default model, {len(bench.data.x_train)} train / {len(bench.data.x_val)} val images, "
              f"{args.epochs} epochs, seed {args.seed}; 1 warm-up round, then {args.repeats} interleaved "
              "rounds\n")  # fmt: skip
        warmup = (bench.plain(), bench.plain(nan_check=True), bench.trial(), bench.worker())
        objects_start = len(gc.get_objects())  # the process must not grow: see A's clean-up
        plain: list[Run] = []
        nan: list[Run] = []
        trial: list[Run] = []
        worker: list[Run] = []
        load: list[float] = []
        for _ in range(args.repeats):
            plain.append(bench.plain())
            nan.append(bench.plain(nan_check=True))
            trial.append(bench.trial())
            worker.append(bench.worker())
            load.append(bench.load())
        objects_end = len(gc.get_objects())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows: list[tuple[object, ...]] = []
    for i, (a, n, b, c) in enumerate(zip(plain, nan, trial, worker, strict=True)):
        rows.append(
            (i + 1, a.total_s, n.total_s, b.total_s, c.total_s, load[i], b.total_s / a.total_s, c.total_s / a.total_s)
        )
    ma, mn, mb, mc = (median([r.total_s for r in side]) for side in (plain, nan, trial, worker))
    paired_b = median([b.total_s / a.total_s for a, b in zip(plain, trial, strict=True)])
    paired_c = median([c.total_s / a.total_s for a, c in zip(plain, worker, strict=True)])
    rows.append(("median", ma, mn, mb, mc, median(load), paired_b, paired_c))
    headers = ("round", "A plain s", "N +NaN s", "B trial s", "C run_worker s", "load_train_val s", "B / A", "C / A")
    print_table(headers, rows)

    print("\nwhere the time goes (medians, s):")
    sides = (("A plain", plain), ("N plain + TerminateOnNaN", nan), ("B trial", trial), ("C run_worker", worker))
    table = []
    for label, side in sides:
        total, fit = median([r.total_s for r in side]), median([r.fit_s for r in side])
        table.append((label, total, total / ma, fit, total - fit, median([r.val_accuracy for r in side])))
    print_table(("side", "total", "/ A", "model.fit", "outside fit", "best val acc"), table)
    frozen = [r.frozen_gc_s for r in plain if not math.isnan(r.frozen_gc_s)]
    print(
        f"\nA's untimed clean-up: clear_session() {median([r.clear_session_s for r in plain]):.3f} s "
        f"(it runs gc.collect() itself), then one more gc.collect() {median([r.extra_gc_s for r in plain]):.3f} s; "
        + (
            f"gc.collect() after gc.freeze(): {median(frozen):.4f} s"
            if frozen
            else "objects already frozen by the project"
        )
    )
    print(f"objects frozen (gc.get_freeze_count()) at the end: {gc.get_freeze_count()}")
    print(f"objects tracked by the collector after the warm-up round: {objects_start}, at the end: {objects_end}")
    print(
        "warm-up round (discarded): "
        + ", ".join(f"{label.split()[0]} {r.total_s:.3f} s" for (label, _), r in zip(sides, warmup, strict=True))
    )
    outside_a = median([r.total_s - r.fit_s for r in plain])
    print("\nratios three ways (median of per-round ratios / median of totals / fit-normalised):")
    for label, side, paired in (
        ("trial only (B / A)", trial, paired_b),
        ("whole run_worker (C / A)", worker, paired_c),
    ):
        # Fit time swings with the machine's load; the fixed cost outside fit is steadier.
        extra = median([r.total_s - r.fit_s for r in side]) - outside_a
        normalised = (ma + extra) / ma
        print(f"  {label}: {paired:.3f} / {median([r.total_s for r in side]) / ma:.3f} / {normalised:.3f}"
              f"  (fixed extra {extra:.3f} s per trial; <= 1.05 needs >= {extra / 0.05:.1f} s "
              "of training)")  # fmt: skip
        ratios = (("per-round", paired), ("fit-normalised", normalised))
        verdicts = [f"{name} {'met' if ratio <= 1.05 else 'MISSED'}" for name, ratio in ratios]
        print(f"    goal <= 1.05: {', '.join(verdicts)}")
    save_json(
        args.json,
        {
            "args": vars(args),
            "plain": [vars(r) for r in plain],
            "plain_nan_check": [vars(r) for r in nan],
            "trial": [vars(r) for r in trial],
            "worker": [vars(r) for r in worker],
            "load_train_val_s": load,
            "warmup": [vars(r) for r in warmup],
        },
    )


if __name__ == "__main__":
    main()
