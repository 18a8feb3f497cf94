"""The keras-tuner engine: KerasTuner's Hyperband runs a study's space; its trials go into the study's store.

``fmnist-search start --engine keras-tuner`` runs this instead of Optuna workers, so a user can
compare the two on the same space, data split and epochs. KerasTuner keeps its own state (oracle,
checkpoints) in a temporary folder; every KerasTuner trial that trains to its end is written into
the SQL store as a COMPLETE Optuna trial, with the space's Optuna distributions, its per-epoch
validation accuracy as intermediate values and the same user attributes the Optuna objective
writes, so ``status``, ``export`` and the dashboard treat it like any other trial.

How KerasTuner's Hyperband differs from the Optuna engine, and what that means here:
- A Hyperband trial that continues an earlier one (``tuner/trial_id``) starts from that trial's
  best checkpoint at ``tuner/initial_epoch``. Its Optuna trial carries the whole curve from
  epoch 1 (the earlier trial's first epochs, then its own), so ``best_epoch`` still counts epochs
  from scratch, as ``export`` expects. ``epochs_trained`` says how many epochs it trained itself.
- KerasTuner does not prune: a configuration it stops promoting simply ends, complete.
- ``--trials N`` is the study-wide budget, as with Optuna: one slot is claimed (storage/budget.py)
  before each KerasTuner trial, so the run stops when the study holds N finished trials.
- ``--timeout`` starts no trial after the deadline; a trial still training then stops at its
  next epoch end and is not written (KerasTuner cannot resume it).
- Without ``--trials`` or ``--timeout`` one Hyperband iteration runs (KerasTuner's default);
  with either, iterations repeat until the budget or the deadline.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from rich.console import Console
from rich.live import Live

from search.console import report_error
from search.data import TrainValData, load_train_val
from search.progress import render_live, take_snapshot
from search.study import StudyError, StudySettings, open_study
from search.trial_report import attach_trial_report, update_study_plots
from search.worker import WorkerError
from spaces.adapters import keras_tuner_params, suggest
from spaces.space import Space
from storage import open_storage
from storage.artifacts import open_artifact_store
from storage.budget import Budget

ENGINES = ("optuna", "keras-tuner")
DEFAULT_ENGINE = "optuna"
HYPERBAND_FACTOR = 3  # the same reduction factor as the Optuna engine's Hyperband pruner
OBJECTIVE = "val_accuracy"
ENGINE_ATTR = "engine"
KERAS_TUNER_TRIAL_ATTR = "keras_tuner_trial"
# The per-epoch history the Optuna objective records (search.objective.METRICS, which imports Keras).
METRICS = ("accuracy", "loss", "val_accuracy", "val_loss")


class EngineError(StudyError):
    """An option the chosen engine cannot honour (a StudyError, so the CLI shows it in one line)."""


def check_engine_options(
    engine: str, *, workers: int, sampler: str | None, pruner: str | None, warm_start: str | None = None
) -> None:
    """Refuse combinations the keras-tuner engine cannot run, in one line naming the option."""
    if engine not in ENGINES:
        raise EngineError(f"engine must be one of {', '.join(ENGINES)}, but got engine={engine!r}")
    if engine == DEFAULT_ENGINE:
        return
    if workers != 1:
        raise EngineError(f"--engine keras-tuner runs one process; leave out --workers (got workers={workers})")
    if sampler is not None:
        raise EngineError(f"--engine keras-tuner samples with its own Hyperband; leave out --sampler (got {sampler!r})")
    if pruner is not None:
        raise EngineError(
            f"--engine keras-tuner brings its own Hyperband schedule; leave out --pruner (got {pruner!r})"
        )
    if warm_start is not None:
        raise EngineError(
            f"--engine keras-tuner cannot start from queued trials; leave out --warm-start (got {warm_start!r})"
        )


@dataclass(frozen=True)
class KerasTunerJob:
    """What one keras-tuner run needs (the study's settings are read from the store)."""

    storage_url: str
    study_name: str
    deadline: float | None = None  # time.time() at which the run ends
    data_dir: str | None = None
    verbose: bool = False


@dataclass
class FitRecord:
    """What one KerasTuner fit left behind, read when its trial ends."""

    history: dict[str, list[float | None]] = field(default_factory=lambda: {name: [] for name in METRICS})
    param_count: int = 0
    seconds: float = 0.0
    initial_epoch: int = 0
    cut_short: bool = False  # stopped by the deadline before its last epoch


# ---------------------------------------------------------------- params and distributions


class _RecordingTrial:
    """Stands in for an Optuna trial in ``suggest``: returns KerasTuner's values, records the distributions.

    Going through ``suggest`` itself guarantees the distributions are exactly those the Optuna
    objective would record for the same space.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.distributions: dict[str, optuna.distributions.BaseDistribution] = {}

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        self.distributions[name] = optuna.distributions.IntDistribution(low, high, step=step, log=log)
        return int(self.values[name])

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        self.distributions[name] = optuna.distributions.FloatDistribution(low, high, log=log)
        return float(self.values[name])

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        self.distributions[name] = optuna.distributions.CategoricalDistribution(choices)
        return self.values[name]


def optuna_params(space: Space, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The searched params of a KerasTuner trial and their Optuna distributions."""
    recorder = _RecordingTrial(values)
    suggest(space, recorder)
    params = {name: recorder.values[name] for name in recorder.distributions}
    return params, recorder.distributions


def full_history(record: FitRecord, earlier: dict[str, list[float | None]] | None) -> dict[str, list[float | None]]:
    """The curve from epoch 1: the continued trial's first ``initial_epoch`` epochs, then this fit's."""
    if not record.initial_epoch or earlier is None:
        return record.history
    return {name: earlier.get(name, [])[: record.initial_epoch] + record.history[name] for name in METRICS}


def trial_attrs(
    record: FitRecord, history: dict[str, list[float | None]], device: str, kt_trial: str
) -> dict[str, Any]:
    """The user attributes the Optuna objective writes, plus where the trial came from."""
    val = [v or 0.0 for v in history["val_accuracy"]]
    best_epoch = max(range(len(val)), key=val.__getitem__) + 1 if val else 0
    return {
        "worker_id": 0,
        "device": device,
        "epochs_run": len(val),
        "best_epoch": best_epoch,
        "param_count": int(record.param_count),
        "train_seconds": round(record.seconds, 3),
        "history": history,
        ENGINE_ATTR: "keras-tuner",
        KERAS_TUNER_TRIAL_ATTR: kt_trial,
        "epochs_trained": len(record.history["val_accuracy"]),
    }


def write_trial(
    study: optuna.Study, space: Space, values: dict[str, Any], attrs: dict[str, Any], artifacts: Any, max_epochs: int
) -> optuna.trial.FrozenTrial:
    """Add one finished KerasTuner trial to the study as a COMPLETE trial with its per-epoch values."""
    params, distributions = optuna_params(space, values)
    val = [v or 0.0 for v in attrs["history"]["val_accuracy"]]
    if not val:
        raise RuntimeError("training ran no epoch")
    # Added as RUNNING, then told: a finished trial is read-only, and the learning curve and note
    # must be attached first, as the Optuna worker does.
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING,
            params=params,
            distributions=distributions,
            user_attrs=attrs,
            intermediate_values={epoch: value for epoch, value in enumerate(val, start=1)},
        )
    )
    added = next(
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if t.user_attrs.get(KERAS_TUNER_TRIAL_ATTR) == attrs[KERAS_TUNER_TRIAL_ATTR]
    )
    live = optuna.trial.Trial(study, added._trial_id)
    if artifacts is not None:
        try:
            attach_trial_report(live, artifacts, max_epochs, pruned=False)
        except Exception as error:  # noqa: BLE001 - a picture must not cost the trial (as in the worker)
            report_error(f"trial {added.number}: learning curve and note not saved: {error}", label="warning")
    return study.tell(live, max(val))


# ---------------------------------------------------------------- KerasTuner side


def _keras_tuner_classes() -> tuple[type, type]:
    """The HyperModel and Tuner subclasses, defined once KerasTuner (and Keras) may be imported."""
    import keras
    import keras_tuner

    class DeadlineStop(keras.callbacks.Callback):
        """Stop at the end of an epoch once the run's time is up (unless it was the last one)."""

        def __init__(self, deadline: float | None, last_epoch: int, record: FitRecord) -> None:
            super().__init__()
            self.deadline, self.last_epoch, self.record = deadline, last_epoch, record

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            for name in METRICS:
                value = float((logs or {}).get(name, math.nan))
                self.record.history[name].append(value if math.isfinite(value) else None)
            if self.deadline is not None and epoch + 1 < self.last_epoch and time.time() >= self.deadline:
                self.record.cut_short = True
                self.model.stop_training = True

    class SpaceHyperModel(keras_tuner.HyperModel):
        """The space's builder behind KerasTuner's ``hp`` (spaces.adapters), fit with the params' batch size."""

        def __init__(self, space: Space, seed: int, deadline: float | None) -> None:
            super().__init__(name=space.name)
            self.space, self.seed, self.deadline = space, seed, deadline
            self.builds = 0
            self.last: FitRecord | None = None

        def build(self, hp: Any) -> keras.Model:
            from spaces.builders import build_model

            # One seed per model built, as the Optuna objective seeds trial n with seed + n.
            keras.utils.set_random_seed(self.seed + self.builds)
            self.builds += 1
            return build_model(self.space.model, keras_tuner_params(self.space, hp))

        def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
            params = keras_tuner_params(self.space, hp)  # declared already: returns the trial's values
            record = FitRecord(param_count=model.count_params(), initial_epoch=int(kwargs.get("initial_epoch", 0)))
            self.last = record
            kwargs["callbacks"] = [
                *kwargs.get("callbacks", []),
                DeadlineStop(self.deadline, int(kwargs["epochs"]), record),
            ]
            started = time.perf_counter()
            history = model.fit(*args, batch_size=params["batch_size"], **kwargs)
            record.seconds = time.perf_counter() - started
            return history

    class BudgetedHyperband(keras_tuner.Hyperband):
        """Hyperband that claims a study budget slot per trial, stops at the deadline, and hands each trial on."""

        def __init__(
            self,
            *,
            budget: Budget,
            deadline: float | None,
            on_trial: Callable[[Any, FitRecord | None], None],
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self.budget, self.deadline, self.on_trial = budget, deadline, on_trial
            self.holding_claim = False
            self.gradients_before: set[str] = set()

        def pre_create_trial(self) -> None:
            if self.holding_claim:
                return  # the oracle asked again (IDLE): the slot claimed last time is still ours
            if self.deadline is not None and time.time() >= self.deadline:
                raise _SearchOver("timeout")
            if not self.budget.claim():
                raise _SearchOver("budget")
            self.holding_claim = True

        def on_trial_begin(self, trial: Any) -> None:
            from search.backend_memory import custom_gradient_names

            super().on_trial_begin(trial)
            self.hypermodel.last = None
            self.gradients_before = custom_gradient_names()

        def on_trial_end(self, trial: Any) -> None:
            from search.backend_memory import release_trial_memory

            super().on_trial_end(trial)
            self.holding_claim = False
            release_trial_memory(self.gradients_before)
            self.on_trial(trial, self.hypermodel.last)

    return SpaceHyperModel, BudgetedHyperband


class _SearchOver(Exception):
    """Raised between KerasTuner trials to end its search loop: budget spent or time up."""


def run_keras_tuner(job: KerasTunerJob, after_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None) -> int:
    """Run KerasTuner's Hyperband on the study until its budget, the deadline or Hyperband's end; return trials written."""
    from search.quiet import import_keras

    storage = open_storage(job.storage_url, must_exist=False)
    study, settings = open_study(storage, job.study_name)
    import_keras(job.verbose)
    from search.devices import describe_device

    device = describe_device()
    data = load_train_val(job.data_dir, settings.subset)
    artifacts = open_artifact_store(job.storage_url)
    budget = Budget(job.storage_url, job.study_name)
    try:
        return _search(job, study, settings, data, budget, artifacts, device, after_trial)
    finally:
        budget.close()


def _search(
    job: KerasTunerJob,
    study: optuna.Study,
    settings: StudySettings,
    data: TrainValData,
    budget: Budget,
    artifacts: Any,
    device: str,
    after_trial: Callable[[optuna.trial.FrozenTrial], None] | None,
) -> int:
    import keras_tuner

    from search.backend_memory import freeze_long_lived_objects

    hypermodel_class, tuner_class = _keras_tuner_classes()
    histories: dict[str, dict[str, list[float | None]]] = {}  # KerasTuner trial id -> its curve from epoch 1
    written: list[optuna.trial.FrozenTrial] = []
    run_id = f"{time.time():.6f}"  # tells this run's KerasTuner trial ids from an earlier run's

    def on_trial(kt_trial: Any, record: FitRecord | None) -> None:
        if record is None or record.cut_short or kt_trial.status != "COMPLETED":
            budget.release()  # not finished: its slot goes back, as a failed Optuna trial's does
            if record is None or not record.cut_short:
                reason = (kt_trial.message or "unknown reason").strip().splitlines()
                report_error(
                    f"KerasTuner trial {kt_trial.trial_id} failed: {reason[-1] if reason else ''}", label="warning"
                )
            return
        values = dict(kt_trial.hyperparameters.values)
        history = full_history(record, histories.get(values.get("tuner/trial_id", "")))
        histories[kt_trial.trial_id] = history
        attrs = trial_attrs(record, history, device, f"{run_id}/{kt_trial.trial_id}")
        attrs["keras_tuner_bracket"] = values.get("tuner/bracket")
        attrs["keras_tuner_round"] = values.get("tuner/round")
        frozen = write_trial(study, settings.space, values, attrs, artifacts, settings.max_epochs)
        written.append(frozen)
        try:
            update_study_plots(study)
        except Exception as error:  # noqa: BLE001 - as in the worker: plots never cost a trial
            report_error(f"study plots not updated: {error}", label="warning")
        if after_trial:
            after_trial(frozen)

    unbounded = settings.n_trials is not None or job.deadline is not None
    freeze_long_lived_objects()
    with tempfile.TemporaryDirectory(prefix="fmnist-keras-tuner-") as workdir:
        tuner = tuner_class(
            budget=budget,
            deadline=job.deadline,
            on_trial=on_trial,
            hypermodel=hypermodel_class(settings.space, settings.seed, job.deadline),
            objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
            max_epochs=settings.max_epochs,
            factor=HYPERBAND_FACTOR,
            hyperband_iterations=None if unbounded else 1,  # None: repeat until budget or deadline
            seed=settings.seed,
            directory=workdir,
            project_name="search",
            overwrite=True,
            max_consecutive_failed_trials=3,
        )
        try:
            tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), verbose=0)
        except _SearchOver:
            pass
        except RuntimeError as error:  # KerasTuner gives up after max_consecutive_failed_trials
            raise WorkerError(f"KerasTuner stopped: {str(error).strip().splitlines()[0]}") from None
        finally:
            if tuner.holding_claim:
                budget.release()  # Hyperband ended (or failed) between a claim and a trial
    return len(written)


def run_keras_tuner_study(job: KerasTunerJob, settings: StudySettings, console: Console) -> int:
    """Run the keras-tuner engine under the same live display as the Optuna workers; return trials written."""
    study, _ = open_study(open_storage(job.storage_url), job.study_name)
    started = time.time()

    def view() -> object:
        return render_live(take_snapshot(study, settings), started, job.deadline)

    with Live(view(), console=console, refresh_per_second=4, transient=False) as live:
        written = run_keras_tuner(job, after_trial=lambda _: live.update(view()))
        live.update(view())
    return written
