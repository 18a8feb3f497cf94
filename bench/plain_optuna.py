"""What a user would write without fmnist-search: a plain Optuna loop, TPE + HyperbandPruner.

``bench.anytime`` runs it beside ``fmnist-search start`` and KerasTuner. It shares with them only
what makes the comparison fair: the space (its declaration, ``spaces.adapters.suggest``, and the
model and training recipe it describes: ``spaces.builders.build_model``, the schedule's span,
label smoothing's targets) and the data (the same 55,000 / 5,000
split). Everything a search tool adds is left out on purpose: no store of ours, no worker, no
budget, no warm starts, no defaults of ours; one process, ``study.optimize`` until the time is
up, the trials kept in a plain Optuna SQLite store that ``bench.anytime`` reads back.

With ``--default-only`` it is what a user gets without any search: the family default point
(the same point fmnist-search trains first, ``spaces.first_trial.default_point``) trained to the
last epoch, one model after another with a fresh seed each, until the time is up.

    python -m bench.plain_optuna --space dense --minutes 15 --epochs 20 --seed 0 --storage sqlite:///plain.db
    python -m bench.plain_optuna --default-only --space dense --minutes 10 --seed 0 --storage sqlite:///default.db
"""

from __future__ import annotations

from search.runtime.quiet import import_keras

keras = import_keras()

import argparse
import time
from typing import Any

import optuna

from search.data.loader import load_train_val
from search.runtime.choice import compile_options
from spaces.adapters import suggest
from spaces.builders import build_model
from spaces.first_trial import default_point
from spaces.label_smoothing import targets
from spaces.schedules import ScheduleSpan
from spaces.space import load_space

STUDY_NAME = "plain-optuna"
DEFAULT_ONLY_STUDY = "default-only"


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


# default-only's k-th model of run seed s: s * STRIDE + k. Its first model is then the same as
# fmnist-search's first trial for seed 0, and runs of different seeds share no model (with s + k,
# the runs of seeds 0, 1 and 2 would train nearly the same models, and their mean be one draw).
DEFAULT_ONLY_SEED_STRIDE = 10_000


def model_seed(seed: int, number: int, default_only: bool) -> int:
    """The weights' seed of trial ``number``: the plain loop seeds as fmnist-search does (seed + number)."""
    return seed * DEFAULT_ONLY_SEED_STRIDE + number if default_only else seed + number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="dense")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--storage", required=True, help="an SQLAlchemy URL for Optuna's own store")
    parser.add_argument(
        "--default-only", action="store_true", help="train the family default again and again: no search"
    )
    args = parser.parse_args()

    started = time.time()
    deadline = started + args.minutes * 60
    space = load_space(args.space)
    data = load_train_val(args.data_dir, subset=args.subset)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args.epochs, reduction_factor=3)
    study = optuna.create_study(
        storage=args.storage,
        study_name=DEFAULT_ONLY_STUDY if args.default_only else STUDY_NAME,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.NopPruner() if args.default_only else pruner,
    )

    def objective(trial: optuna.Trial) -> float:
        params = suggest(space, trial)
        keras.utils.set_random_seed(model_seed(args.seed, trial.number, args.default_only))
        # The space's recipe: a schedule spans the most epochs; label smoothing takes one-hot targets.
        model = build_model(
            space.model, params, ScheduleSpan(args.epochs, len(data.x_train)), compile_options(space.model)
        )
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

    if not args.default_only:
        study.optimize(objective, timeout=max(1.0, deadline - time.time()), catch=(TimeoutError,))
        return
    while time.time() < deadline:  # the default point again and again; each trial's seed is new
        study.enqueue_trial(default_point(space))
        study.optimize(objective, n_trials=1, catch=(TimeoutError,))


if __name__ == "__main__":
    main()
