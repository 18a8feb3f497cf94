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
- Each KerasTuner trial holds its budget slot in a ``TrialSlot``, as an Optuna trial does: given
  back unless the trial is written. Ctrl-C and SIGTERM are handled by the runner
  (search/runner.py); a signal that TensorFlow turned into another error, which KerasTuner would
  record as a failed trial and carry on after, stops the search after that trial.
- Without ``--trials`` or ``--timeout`` one Hyperband iteration runs (KerasTuner's default);
  with either, iterations repeat until the budget or the deadline.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from search import interrupts
from search.console import report_error
from search.data import TrainValData, load_train_val
from search.study import StudyError, StudySettings, open_study
from search.trial_report import attach_trial_report, update_study_plots
from search.worker import WorkerError, WorkerJob
from spaces.adapters import keras_tuner_params, suggest
from spaces.label_smoothing import targets
from spaces.schedules import ScheduleSpan, resume_at_epoch
from spaces.space import Space
from storage import open_storage
from storage.artifacts import open_artifact_store
from storage.budget import Budget, TrialSlot
from storage.optuna_store import fail_stale_trials
from storage.runs import next_run, sampler_seed

if TYPE_CHECKING:
    from search.objective import EpochListener

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
    record: FitRecord, history: dict[str, list[float | None]], device: str, kt_trial: str, worker_id: int = 0
) -> dict[str, Any]:
    """The user attributes the Optuna objective writes, plus where the trial came from."""
    val = [v or 0.0 for v in history["val_accuracy"]]
    best_epoch = max(range(len(val)), key=val.__getitem__) + 1 if val else 0
    return {
        "worker_id": worker_id,
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
            interrupts.check()  # an interrupted epoch: stop before it is recorded (KerasTuner does not catch it)
            for name in METRICS:
                value = float((logs or {}).get(name, math.nan))
                self.record.history[name].append(value if math.isfinite(value) else None)
            if self.deadline is not None and epoch + 1 < self.last_epoch and time.time() >= self.deadline:
                self.record.cut_short = True
                self.model.stop_training = True

    class SpaceHyperModel(keras_tuner.HyperModel):
        """The space's builder behind KerasTuner's ``hp`` (spaces.adapters), fit with the params' batch size."""

        def __init__(self, space: Space, seed: int, deadline: float | None, span: ScheduleSpan | None = None) -> None:
            super().__init__(name=space.name)
            self.space, self.seed, self.deadline = space, seed, deadline
            self.span = span  # a learning-rate schedule spans the study's max epochs (spaces/schedules.py)
            self.builds = 0
            self.last: FitRecord | None = None

        def build(self, hp: Any) -> keras.Model:
            from spaces.builders import build_model

            # One seed per model built, as the Optuna objective seeds trial n with seed + n.
            keras.utils.set_random_seed(self.seed + self.builds)
            self.builds += 1
            return build_model(self.space.model, keras_tuner_params(self.space, hp), self.span)

        def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
            params = keras_tuner_params(self.space, hp)  # declared already: returns the trial's values
            record = FitRecord(param_count=model.count_params(), initial_epoch=int(kwargs.get("initial_epoch", 0)))
            if self.span is not None:  # a continued trial's fresh optimizer goes on where its schedule was
                resume_at_epoch(model, record.initial_epoch, self.span, params["batch_size"])
            x, y = args
            if "validation_data" in kwargs:
                x_val, y_val = kwargs["validation_data"]
                kwargs["validation_data"] = (x_val, targets(params, y_val))
            args = (x, targets(params, y))  # one-hot rows when label smoothing is on
            self.last = record
            kwargs["callbacks"] = [
                *kwargs.get("callbacks", []),
                DeadlineStop(self.deadline, int(kwargs["epochs"]), record),
            ]
            started = time.perf_counter()
            # Ctrl-C or SIGTERM ends the epoch after its current batch; DeadlineStop then stops the search.
            with interrupts.stopping_training(lambda: setattr(model, "stop_training", True)):
                history = model.fit(*args, batch_size=params["batch_size"], **kwargs)
            record.seconds = time.perf_counter() - started
            return history

    class BudgetedHyperband(keras_tuner.Hyperband):
        """Hyperband that claims a study budget slot per trial, stops at the deadline, and hands each trial on."""

        def __init__(
            self,
            *,
            study: optuna.Study,
            budget: Budget,
            deadline: float | None,
            on_trial: Callable[[Any, FitRecord | None], bool],
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self.study, self.budget, self.deadline, self.on_trial = study, budget, deadline, on_trial
            self.slot: TrialSlot | None = None  # held from the claim to the trial's end
            self.gradients_before: set[str] = set()

        def pre_create_trial(self) -> None:
            interrupts.check()  # a signal between two trials
            if self.slot is not None:
                return  # the oracle asked again (IDLE): the slot claimed last time is still ours
            if self.deadline is not None and time.time() >= self.deadline:
                raise _SearchOver("timeout")
            fail_stale_trials(self.study)  # a dead run's claims come back before this one counts them
            self.slot = self.budget.claim_slot()
            if self.slot is None:
                raise _SearchOver("budget")

        def on_trial_begin(self, trial: Any) -> None:
            from search.backend_memory import custom_gradient_names

            super().on_trial_begin(trial)
            self.hypermodel.last = None
            self.gradients_before = custom_gradient_names()

        def on_trial_end(self, trial: Any) -> None:
            from search.backend_memory import release_trial_memory

            super().on_trial_end(trial)
            slot, self.slot = self.slot, None
            release_trial_memory(self.gradients_before)
            with slot or TrialSlot(None):
                interrupts.check()  # KerasTuner recorded an interrupted fit as a failed trial
                if self.on_trial(trial, self.hypermodel.last) and slot is not None:
                    slot.keep()

    return SpaceHyperModel, BudgetedHyperband


class _SearchOver(Exception):
    """Raised between KerasTuner trials to end its search loop: budget spent or time up."""


def run_keras_tuner(
    job: WorkerJob,
    listener: EpochListener | None = None,
    after_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> int:
    """Run KerasTuner's Hyperband on the study until its budget, the deadline or Hyperband's end; return trials written.

    The engine interface of search/runner.py; ``listener`` is not called (KerasTuner's epochs are
    not a trial's until the trial ends).
    """
    from search.quiet import import_keras

    os.environ.update(job.env)
    interrupts.reset()
    storage = open_storage(job.storage_url, must_exist=False)
    run = job.run if job.run is not None else next_run(job.storage_url, job.study_name)
    study, settings = open_study(storage, job.study_name)
    seed = sampler_seed(settings.seed, run, job.worker_id)  # a resumed run explores anew, as Optuna's workers do
    import_keras(job.verbose)
    from search.devices import describe_device

    device = describe_device()
    data = load_train_val(job.data_dir, settings.subset)
    artifacts = open_artifact_store(job.storage_url)
    budget = Budget(job.storage_url, job.study_name)
    try:
        return _search(job, study, settings, seed, data, budget, artifacts, device, after_trial)
    finally:
        budget.close()


def _search(
    job: WorkerJob,
    study: optuna.Study,
    settings: StudySettings,
    seed: int,
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

    def on_trial(kt_trial: Any, record: FitRecord | None) -> bool:
        """Write a finished KerasTuner trial into the study; False when it did not finish (its slot goes back)."""
        if record is None or record.cut_short or kt_trial.status != "COMPLETED":
            if record is None or not record.cut_short:
                report_error(f"KerasTuner trial {kt_trial.trial_id} failed: {_last_line(kt_trial.message)}", label="warning")
            return False
        values = dict(kt_trial.hyperparameters.values)
        history = full_history(record, histories.get(values.get("tuner/trial_id", "")))
        histories[kt_trial.trial_id] = history
        attrs = trial_attrs(record, history, device, f"{run_id}/{kt_trial.trial_id}", job.worker_id)
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
        return True

    unbounded = settings.n_trials is not None or job.deadline is not None
    freeze_long_lived_objects()
    with tempfile.TemporaryDirectory(prefix="fmnist-keras-tuner-") as workdir:
        tuner = tuner_class(
            study=study,
            budget=budget,
            deadline=job.deadline,
            on_trial=on_trial,
            hypermodel=hypermodel_class(settings.space, seed, job.deadline, ScheduleSpan(settings.max_epochs, len(data.x_train))),
            objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
            max_epochs=settings.max_epochs,
            factor=HYPERBAND_FACTOR,
            hyperband_iterations=None if unbounded else 1,  # None: repeat until budget or deadline
            seed=seed,
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
            interrupts.check()  # or TensorFlow turned Ctrl-C into a RuntimeError
            raise WorkerError(f"KerasTuner stopped: {_last_line(str(error))}") from error
        finally:
            if tuner.slot is not None:
                tuner.slot.give_back()  # Hyperband ended, failed or was interrupted between a claim and a trial's end
    return len(written)


def _last_line(message: str | None) -> str:
    """The last non-empty line of KerasTuner's message (a traceback ends with the error); "unknown reason" if empty."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown reason"
