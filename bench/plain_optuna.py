"""What a user would write without fmnist-search: a plain Optuna loop, TPE + HyperbandPruner.

``bench.anytime`` runs it beside ``fmnist-search start`` and KerasTuner. It shares with them only
what makes the comparison fair: the space (its declaration, ``spaces.adapters.suggest``, and the
model and training recipe it describes: ``spaces.builders.build_model``, the schedule's span,
label smoothing's targets) and the data (the same 55,000 / 5,000
split). Everything a search tool adds is left out on purpose: no store of ours, no worker, no
budget, no warm starts, no defaults of ours; one process, ``study.optimize`` until the time is
up, the trials kept in a plain Optuna SQLite store that ``bench.anytime`` reads back.

    python -m bench.plain_optuna --space dense --minutes 15 --epochs 20 --seed 0 --storage sqlite:///plain.db
"""

from __future__ import annotations

from search.runtime.quiet import import_keras

keras = import_keras()

import argparse
import time
from typing import Any

import optuna

from search.data.loader import load_train_val
from spaces.adapters import suggest
from spaces.builders import build_model
from spaces.label_smoothing import targets
from spaces.schedules import ScheduleSpan
from spaces.space import load_space

STUDY_NAME = "plain-optuna"


class _Report(keras.callbacks.Callback):
    """Report val accuracy each epoch, prune when Hyperband says so, stop when the time is up."""

    def __init__(self, trial: optuna.Trial, deadline: float) -> None:
        super().__init__()
        self.trial, self.deadline, self.pruned = trial, deadline, False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.trial.report(float((logs or {}).get("val_accuracy", 0.0)), epoch + 1)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True
        elif time.time() >= self.deadline:
            self.model.stop_training = True  # a trial cut by the deadline ends unfinished (FAIL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="dense")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--storage", required=True, help="an SQLAlchemy URL for Optuna's own store")
    args = parser.parse_args()

    started = time.time()
    deadline = started + args.minutes * 60
    space = load_space(args.space)
    data = load_train_val(args.data_dir, subset=args.subset)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=args.storage,
        study_name=STUDY_NAME,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args.epochs, reduction_factor=3),
    )

    def objective(trial: optuna.Trial) -> float:
        params = suggest(space, trial)
        keras.utils.set_random_seed(args.seed + trial.number)
        # The space's recipe: a schedule spans the most epochs; label smoothing takes one-hot targets.
        model = build_model(space.model, params, ScheduleSpan(args.epochs, len(data.x_train)))
        report = _Report(trial, deadline)
        history = model.fit(
            data.x_train, targets(params, data.y_train), batch_size=params["batch_size"], epochs=args.epochs,
            validation_data=(data.x_val, targets(params, data.y_val)), callbacks=[report], verbose=0,
        )  # fmt: skip
        keras.backend.clear_session()
        val = history.history.get("val_accuracy", [])
        if report.pruned:
            raise optuna.TrialPruned()
        if len(val) < args.epochs:
            raise TimeoutError("the time ran out mid-trial")
        return max(val)

    study.optimize(objective, timeout=max(1.0, deadline - time.time()), catch=(TimeoutError,))


if __name__ == "__main__":
    main()
