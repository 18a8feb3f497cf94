"""Seconds per epoch of the default dense and default CNN models, alone or compared across runtimes.

Each model (``build_model(family, defaults(family))``) is trained as a trial would train it, with
the 5k validation set. A callback times each epoch from ``on_epoch_begin`` to ``on_epoch_end``
(Keras runs validation in between) and the validation pass alone. The first epoch also pays for
tracing or compiling; the later ones show the steady state.

    python -m bench.epoch_time [--epochs 2] [--families dense cnn]       # this process's runtime, full data
    python -m bench.epoch_time --compare [--repeats 3] [--subset 4000]    # every runtime, side by side

``--compare`` runs each configuration (backend, XLA, precision, steps per execution, batch size,
threads per worker: ``CONFIGS``) in a child process of its own, since a backend is fixed when
Keras is imported, round-robin over ``--repeats`` rounds, round r seeding every model with r. A
shared CPU makes absolute seconds drift with the other load, so what it reports is each
configuration's ratio to today's default (TensorFlow, no XLA, float32, one step per execution,
the backend's own threads) within the same round, the median over rounds, and the validation
accuracy after the last epoch, against the default's spread over the rounds' seeds. Seconds are
the train part of an epoch (validation excluded) scaled to the 55,000-image train split, so a
small ``--subset`` keeps the slow configurations affordable.

The configurations are in bench/_epoch_time_configs.py, a child's training in
bench/_epoch_time_child.py and the comparison in bench/_epoch_time_compare.py.
"""

from __future__ import annotations

import argparse
import json
import os

from bench._common import print_table, save_json
from bench._epoch_time_child import RESULT_PREFIX, epoch_timer, train_families
from bench._epoch_time_compare import compare, print_comparison
from bench._epoch_time_configs import BASELINE, CONFIGS, FAMILIES, config_env

__all__ = ["BASELINE", "CONFIGS", "config_env", "epoch_timer", "main"]


def single(args: argparse.Namespace) -> None:
    """Today's mode: this process's runtime, the families one after the other, every epoch printed."""
    results = train_families(args.families, args.epochs, args.seed, args.subset, args.batch_size, args.data_dir)
    print(f"{results['n_train']} train images, backend {results['backend']}, runtime {results['runtime']}, "
          f"{os.cpu_count()} CPUs, {args.epochs} epochs per model\n")  # fmt: skip
    rows: list[tuple[object, ...]] = []
    for family in args.families:
        run = results[family]
        for epoch, (total, val) in enumerate(zip(run["epoch_s"], run["val_s"], strict=True), start=1):
            train = total - val
            rows.append(
                (family, epoch, total, train, val, round(results["n_train"] / train), run["val_accuracy"][epoch - 1])
            )
        print(f"{family}: {run['params']:,} parameters, batch size {run['batch_size']}, 1-min load average "
              f"{run['loadavg_1min'][0]:.2f} before, {run['loadavg_1min'][1]:.2f} after")  # fmt: skip
    print()
    print_table(("model", "epoch", "epoch s", "train s", "val s", "train img/s", "val acc"), rows)
    save_json(args.json, results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default: 2, or 3 with --compare)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--subset", type=int, default=None, help="train images (default: all 55,000, or 4,000 with --compare)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="instead of the model's own")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    parser.add_argument("--compare", action="store_true", help="every configuration side by side, in child processes")
    parser.add_argument("--repeats", type=int, default=3, help="--compare: rounds over all configurations")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=None,
        choices=list(CONFIGS),
        help="--compare: these only (default: all available but the *-cnn ones)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compare:
        args.epochs = args.epochs or 3
        args.subset = args.subset or 4000
        if args.epochs < 2 or args.repeats < 1:
            parser.error(
                "--compare needs --epochs of at least 2 (the first one compiles) and --repeats of at least 1, "
                f"but got {args.epochs=}, {args.repeats=}"
            )
        report = compare(args)
        print_comparison(report)
        save_json(args.json, report)
        return
    args.epochs = args.epochs or 2
    if args.child:
        results = train_families(
            args.families, args.epochs, args.seed, args.subset, args.batch_size, args.data_dir, args.barrier
        )
        print(RESULT_PREFIX + json.dumps(results), flush=True)
        return
    single(args)


if __name__ == "__main__":
    main()
