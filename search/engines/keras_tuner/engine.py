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
- The trial coordinator (search/engines/coordinator.py) admits each KerasTuner trial as it does
  an Optuna one: it recovers dead trials, claims the slot (held in a ``TrialSlot``, given back
  unless the trial is written), waits while claims are held, drops claims that no trial holds
  (a run killed mid-trial leaves one) and counts the failure streak. Ctrl-C and SIGTERM are handled by the runner
  (search/engines/runner.py); a signal that TensorFlow turned into another error, which KerasTuner would
  record as a failed trial and carry on after, stops the search after that trial.
- Without ``--trials`` or ``--timeout`` one Hyperband iteration runs (KerasTuner's default);
  with either, iterations repeat until the budget or the deadline.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import optuna

from search import notices
from search.data.loader import TrainValData, load_train_val
from search.engines.coordinator import MAX_CONSECUTIVE_FAILURES, Coordinator
from search.engines.divergence import DIVERGED_ATTR, divergence_message
from search.engines.interface import DEFAULT_ENGINE, ENGINES, EpochListener, WorkerJob
from search.engines.keras_tuner.tuner import FitRecord, SearchOver, keras_tuner_classes
from search.engines.record import (
    HISTORY_ATTR,
    METRICS,
    History,
    attach_report,
    result_attrs,
    runner_attrs,
    update_plots,
)
from search.errors import EngineError, StorageError, WorkerError
from search.runtime import interrupts
from search.study.settings import StudySettings, open_study
from spaces.adapters import suggest
from spaces.schedules import ScheduleSpan
from spaces.space import Space
from storage import open_storage
from storage.artifacts import open_artifact_store
from storage.budget import Budget
from storage.runs import next_run, sampler_seed

HYPERBAND_FACTOR = 3  # the same reduction factor as the Optuna engine's Hyperband pruner
OBJECTIVE = "val_accuracy"
ENGINE_ATTR = "engine"
KERAS_TUNER_TRIAL_ATTR = "keras_tuner_trial"


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


def optuna_params(space: Space, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The searched params of a KerasTuner trial and their Optuna distributions.

    ``suggest`` runs on a ``FixedTrial`` of KerasTuner's values, so the distributions are exactly
    those the Optuna objective records for the same space.
    """
    fixed = optuna.trial.FixedTrial(values)
    suggest(space, fixed)
    return fixed.params, fixed.distributions


def full_history(record: FitRecord, earlier: History | None) -> History:
    """The curve from epoch 1: the continued trial's first ``initial_epoch`` epochs, then this fit's."""
    if not record.initial_epoch or earlier is None:
        return record.history
    return {name: earlier.get(name, [])[: record.initial_epoch] + record.history[name] for name in METRICS}


def trial_attrs(record: FitRecord, history: History, worker_id: int, device: str, kt_trial: str) -> dict[str, Any]:
    """The user attributes the Optuna objective writes (search/engines/record.py), plus where the trial came from."""
    return {
        **runner_attrs(worker_id, device),
        **result_attrs(history, record.param_count, record.seconds),
        ENGINE_ATTR: "keras-tuner",
        KERAS_TUNER_TRIAL_ATTR: kt_trial,
        "epochs_trained": len(record.history["val_accuracy"]),
    }


def write_trial(
    study: optuna.Study,
    space: Space,
    values: dict[str, Any],
    attrs: dict[str, Any],
    history: History,
    artifacts: Any,
    max_epochs: int,
    diverged: str | None = None,
) -> optuna.trial.FrozenTrial:
    """Add one finished KerasTuner trial to the study with its per-epoch values: COMPLETE, or PRUNED if it
    ``diverged`` (search/engines/divergence.py)."""
    params, distributions = optuna_params(space, values)
    val = [v or 0.0 for v in history["val_accuracy"]]
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
            system_attrs={HISTORY_ATTR: history},
            intermediate_values={epoch: value for epoch, value in enumerate(val, start=1)},
        )
    )
    added = next(
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if t.user_attrs.get(KERAS_TUNER_TRIAL_ATTR) == attrs[KERAS_TUNER_TRIAL_ATTR]
    )
    live = optuna.trial.Trial(study, added._trial_id)
    attach_report(live, artifacts, max_epochs, pruned=False)
    if diverged is not None:
        live.set_user_attr(DIVERGED_ATTR, diverged)
        return study.tell(live, state=optuna.trial.TrialState.PRUNED)
    return study.tell(live, max(val))


def run_keras_tuner(
    job: WorkerJob,
    listener: EpochListener | None = None,
    after_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> int:
    """Run KerasTuner's Hyperband on the study until its budget, the deadline or Hyperband's end; return trials written.

    The engine interface of search/engines/runner.py; ``listener`` is not called (KerasTuner's epochs are
    not a trial's until the trial ends).
    """
    from search.runtime.quiet import import_keras

    notices.show_on_stderr()  # a direct call (a test, a notebook): warnings as plain lines, unless a UI shows them
    os.environ.update(job.env)
    if not interrupts.handled():
        interrupts.reset()  # a direct call: an earlier Ctrl-C must not stop this run
    storage = open_storage(job.storage_url, must_exist=False)
    run = job.run if job.run is not None else next_run(job.storage_url, job.study_name)
    study, settings = open_study(storage, job.study_name)
    seed = sampler_seed(settings.seed, run, job.worker_id)  # a resumed run explores anew, as Optuna's workers do
    import_keras(job.verbose)
    from search.runtime.devices import describe_device

    device = describe_device()
    data = load_train_val(job.data_dir, settings.subset)
    artifacts = open_artifact_store(job.storage_url)
    coordinator = Coordinator(study, Budget(job.storage_url, job.study_name))
    interrupts.check()  # a signal during the imports above (a parent that died meanwhile): no trial starts
    return _search(job, study, settings, seed, data, coordinator, artifacts, device, after_trial)


def _search(
    job: WorkerJob,
    study: optuna.Study,
    settings: StudySettings,
    seed: int,
    data: TrainValData,
    coordinator: Coordinator,
    artifacts: Any,
    device: str,
    after_trial: Callable[[optuna.trial.FrozenTrial], None] | None,
) -> int:
    import keras_tuner

    from search.runtime.memory import freeze_long_lived_objects

    hypermodel_class, tuner_class = keras_tuner_classes()
    histories: dict[str, dict[str, list[float | None]]] = {}  # KerasTuner trial id -> its curve from epoch 1
    written: list[optuna.trial.FrozenTrial] = []
    run_id = f"{time.time():.6f}"  # tells this run's KerasTuner trial ids from an earlier run's

    def on_trial(kt_trial: Any, record: FitRecord | None) -> bool:
        """Write a finished KerasTuner trial into the study; False when it did not finish (its slot goes back)."""
        finished = kt_trial.status == "COMPLETED" or (record is not None and record.diverged_at is not None)
        if record is None or record.cut_short or not finished:
            if record is None or not record.cut_short:
                reason = _last_line(kt_trial.message)
                coordinator.count_failure(f"KerasTuner trial {kt_trial.trial_id} failed: {reason}", reason)
            return False
        values = dict(kt_trial.hyperparameters.values)
        history = full_history(record, histories.get(values.get("tuner/trial_id", "")))
        histories[kt_trial.trial_id] = history
        attrs = trial_attrs(record, history, job.worker_id, device, f"{run_id}/{kt_trial.trial_id}")
        attrs["keras_tuner_bracket"] = values.get("tuner/bracket")
        attrs["keras_tuner_round"] = values.get("tuner/round")
        diverged = None if record.diverged_at is None else divergence_message(record.diverged_at)
        frozen = write_trial(study, settings.space, values, attrs, history, artifacts, settings.max_epochs, diverged)
        written.append(frozen)
        coordinator.count_success()
        update_plots(study)
        if after_trial:
            after_trial(frozen)
        return True

    unbounded = settings.n_trials is not None or job.deadline is not None
    freeze_long_lived_objects()
    with tempfile.TemporaryDirectory(prefix="fmnist-keras-tuner-") as workdir:
        tuner = tuner_class(
            coordinator=coordinator,
            deadline=job.deadline,
            on_trial=on_trial,
            hypermodel=hypermodel_class(
                settings.space, seed, job.deadline, ScheduleSpan(settings.max_epochs, len(data.x_train))
            ),
            objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
            max_epochs=settings.max_epochs,
            factor=HYPERBAND_FACTOR,
            hyperband_iterations=None if unbounded else 1,  # None: repeat until budget or deadline
            seed=seed,
            directory=workdir,
            project_name="search",
            overwrite=True,
            max_consecutive_failed_trials=MAX_CONSECUTIVE_FAILURES + 1,  # the coordinator's streak stops it first
        )
        try:
            tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), verbose=0)
        except SearchOver:
            pass
        except (WorkerError, StorageError):
            raise
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
