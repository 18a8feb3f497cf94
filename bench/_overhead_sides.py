"""bench.overhead's sides: A (plain ``model.fit``), N (A + TerminateOnNaN), B (``train_trial`` in a
study) and C (``run_worker``), each one timed run of the default dense model; see bench/overhead.py."""

from __future__ import annotations

from search.runtime.quiet import import_keras

keras = import_keras()

import gc
import math
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from bench._common import drop_custom_gradients_since, tf_gradient_registry, write_default_space
from search.data.loader import TrainValData, load_train_val
from search.engines.optuna.objective import TrainingContext, train_trial
from search.engines.optuna.worker import WorkerJob, run_worker
from search.runtime.choice import compile_options
from search.study.settings import open_study, start_or_resume
from spaces.builders import build_model
from spaces.families import defaults
from storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class Run:
    total_s: float  # what the side is timed by
    fit_s: float  # model.fit alone (plain: measured here; fmnist-search: its train_seconds attr)
    val_accuracy: float
    clear_session_s: float = 0.0  # plain only, untimed in total_s: keras.backend.clear_session()
    extra_gc_s: float = 0.0  # plain only, untimed in total_s: a gc.collect() right after it
    frozen_gc_s: float = 0.0  # plain only, untimed: gc.collect() after gc.freeze()


class Bench:
    def __init__(self, workdir: Path, subset: int, epochs: int, seed: int) -> None:
        self.workdir = workdir
        self.space_file = write_default_space(workdir, "dense")
        self.subset = subset
        self.epochs = epochs
        self.seed = seed
        self.params = defaults("dense")
        self.data: TrainValData = load_train_val(subset=subset)
        self.count = 0

    def new_study(self) -> tuple[str, str]:
        """A fresh SQLite store holding one fresh study (one trial budget); untimed."""
        self.count += 1
        url = f"sqlite:///{self.workdir / f'study-{self.count}.db'}"
        name = f"overhead-{self.count}"
        start_or_resume(
            open_storage(url), name, space=str(self.space_file), max_epochs=self.epochs,
            pruner="none", seed=self.seed, subset=self.subset, n_trials=1,
        )  # fmt: skip
        return url, name

    def plain(self, nan_check: bool = False) -> Run:
        data = self.data
        callbacks = [keras.callbacks.TerminateOnNaN()] if nan_check else None
        gradients_before = set(tf_gradient_registry() or ())
        started = time.perf_counter()
        keras.utils.set_random_seed(self.seed)
        model = build_model("dense", self.params, compile_options=compile_options("dense"))
        fit_started = time.perf_counter()
        history = model.fit(
            data.x_train, data.y_train, batch_size=self.params["batch_size"], epochs=self.epochs,
            validation_data=(data.x_val, data.y_val), callbacks=callbacks, verbose=0,
        )  # fmt: skip
        done = time.perf_counter()
        # Untimed in total_s (keeps rounds independent), but timed apart: train_trial does both.
        del model
        keras.backend.clear_session()
        cleared = time.perf_counter()
        drop_custom_gradients_since(gradients_before)
        gc.collect()
        collected = time.perf_counter()
        frozen_gc_s = math.nan
        if gc.get_freeze_count() == 0:  # never undo a freeze that fmnist-search itself made
            gc.freeze()
            frozen = time.perf_counter()
            gc.collect()
            frozen_gc_s = time.perf_counter() - frozen
            gc.unfreeze()
        return Run(
            done - started, done - fit_started, max(history.history["val_accuracy"]),
            clear_session_s=cleared - done, extra_gc_s=collected - cleared, frozen_gc_s=frozen_gc_s,
        )  # fmt: skip

    def trial(self) -> Run:
        url, name = self.new_study()
        storage = open_storage(url)
        study, settings = open_study(storage, name)
        context = TrainingContext(self.data, settings.max_epochs, settings.seed, 0, "cpu (tensorflow)")
        started = time.perf_counter()
        study.optimize(lambda t: train_trial(t, settings.space, context), n_trials=1)
        total = time.perf_counter() - started
        return _from_store(study, total)

    def worker(self) -> Run:
        url, name = self.new_study()
        started = time.perf_counter()
        ran = run_worker(WorkerJob(url, name))
        total = time.perf_counter() - started
        assert ran == 1, ran
        study, _ = open_study(open_storage(url), name)
        return _from_store(study, total)

    def load(self) -> float:
        started = time.perf_counter()
        load_train_val(subset=self.subset)
        return time.perf_counter() - started


def _from_store(study: optuna.Study, total: float) -> Run:
    (trial,) = study.get_trials()
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial.state
    return Run(total, float(trial.user_attrs["train_seconds"]), float(trial.value or 0.0))
