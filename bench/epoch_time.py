"""Seconds per epoch of the default dense and default CNN models on the full 55k train split.

Each model (``build_model(family, defaults(family))``, TensorFlow backend) is trained for
``--epochs`` epochs with the 5k validation set, as a trial would train it. A callback times
each epoch from ``on_epoch_begin`` to ``on_epoch_end`` (Keras runs validation in between,
so it is included) and the validation pass alone (``on_test_begin`` to ``on_test_end``).
The first epoch also pays for tracing the train and test functions; the later ones show
the steady state. This is not a ratio, so it is sensitive to other load on the machine:
the load average is printed with the figures.

    python -m bench.epoch_time [--epochs 2] [--families dense cnn]
"""

from __future__ import annotations

from search.runtime.quiet import import_keras

keras = import_keras()

import argparse
import os
import time
from typing import Any

from bench._common import print_table, save_json
from search.data.loader import load_train_val
from spaces.builders import build_model
from spaces.families import defaults


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch (validation included) and of each epoch's validation pass."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_s: list[float] = []
        self.val_s: list[float] = []
        self._epoch_start = self._val_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._val_start = time.perf_counter()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.val_s.append(time.perf_counter() - self._val_start)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_s.append(time.perf_counter() - self._epoch_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--families", nargs="+", default=["dense", "cnn"], choices=["dense", "cnn"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()

    data = load_train_val()
    n_train = len(data.x_train)
    print(f"{n_train} train / {len(data.x_val)} val images, backend {keras.backend.backend()}, "
          f"{os.cpu_count()} CPUs, {args.epochs} epochs per model\n")  # fmt: skip
    rows: list[tuple[object, ...]] = []
    results: dict[str, Any] = {"args": vars(args)}
    for family in args.families:
        params = defaults(family)
        keras.utils.set_random_seed(args.seed)
        model = build_model(family, params)
        timer = EpochTimer()
        load_before = os.getloadavg()[0]
        history = model.fit(
            data.x_train, data.y_train, batch_size=params["batch_size"], epochs=args.epochs,
            validation_data=(data.x_val, data.y_val), callbacks=[timer], verbose=0,
        )  # fmt: skip
        load_after = os.getloadavg()[0]
        for epoch, (total, val) in enumerate(zip(timer.epoch_s, timer.val_s), start=1):
            train = total - val
            rows.append(
                (family, epoch, total, train, val, round(n_train / train), history.history["val_accuracy"][epoch - 1])
            )
        results[family] = {
            "epoch_s": timer.epoch_s, "val_s": timer.val_s, "params": model.count_params(),
            "loadavg_1min": [load_before, load_after],
        }  # fmt: skip
        print(f"{family}: {model.count_params():,} parameters, batch size {params['batch_size']}, "
              f"1-min load average {load_before:.2f} before, {load_after:.2f} after")  # fmt: skip
        del model
        keras.backend.clear_session()
    print()
    print_table(("model", "epoch", "epoch s", "train s", "val s", "train img/s", "val acc"), rows)
    save_json(args.json, results)


if __name__ == "__main__":
    main()
