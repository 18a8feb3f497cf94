"""Start or resume a study, or join one, and run its engine until the budget or the deadline.

``start`` and ``worker`` (and the Python API's ``run_study``) come here: the space, the data and
the store are checked before anything is written, then the runner runs the workers. What is said
to people goes through the caller's ``RunView`` (search/engines/run_view.py), warnings through
search/notices.py.
"""

from __future__ import annotations

import os
import socket
import time
import zlib

import optuna

from search import notices
from search.data import loader as fmnist_data
from search.engines.coordinator import REQUEUED_FROM, recover_dead_trials
from search.engines.interface import WorkerJob
from search.engines.run_view import RunView
from search.engines.runner import run_study
from search.errors import StudyError
from search.runtime.choice import BackendChoice, choose_backend, installed_backends
from search.runtime.devices import detect_gpus
from search.study.names import check_study_name
from search.study.options import WARM_STARTS
from search.study.pruner import DEFAULTS, KNOWN_GOOD
from search.study.settings import StudySettings, count_finished, enqueue_warm_start, open_study, start_or_resume
from spaces.first_trial import default_point, known_good_points
from spaces.model_size import DEFAULT_MAX_PARAMS, check_model_size, largest_model
from spaces.space import load_space
from storage import open_storage, redact, resolve_url


def start_study(
    view: RunView,
    *,
    space: str | None,
    study_name: str | None,
    workers: int,
    n_trials: int | None,
    timeout: float | None,
    max_epochs: int | None,
    storage_url: str | None,
    subset: int | None,
    seed: int | None,
    sampler: str | None,
    pruner: str | None,
    data_dir: str | None,
    verbose: bool,
    gpus: list[str] | None = None,
    warm_start: str | None = None,
    engine: str = "optuna",
    max_params: int = DEFAULT_MAX_PARAMS,
    more_trials: int | None = None,
) -> optuna.Study:
    """Create or resume a study, then run its workers (or KerasTuner) until the budget or the timeout; return it.

    ``n_trials`` is the study-wide budget of finished trials; ``more_trials`` instead sets it to
    the trials finished now plus that many (Optuna's ``optimize(n_trials=...)``). A run that the
    timeout ends before the budget says so in one line: how many trials are done, how many were
    cut and re-queued."""
    from search.engines.keras_tuner.engine import check_engine_options

    check_engine_options(engine, workers=workers, sampler=sampler, pruner=pruner, warm_start=warm_start)
    if warm_start not in (None, *WARM_STARTS):
        raise StudyError(f"--warm-start takes one of {', '.join(WARM_STARTS)}, but got {warm_start!r}")
    if space is None and study_name is None:
        raise StudyError("say which space to search (--space dense|cnn|FILE) or which study to resume (--study NAME)")
    # Check the space and the data before anything is written: bad input leaves no empty study behind.
    if space is not None:
        loaded = load_space(space)
        check_model_size(loaded, max_params)  # a monster space is refused before anything trains
        if study_name is None:
            study_name = check_study_name(loaded.name, hint="; the space's name is the default, so give --study NAME")
    check_study_name(study_name)
    fmnist_data.load_train_val(data_dir, subset)  # parses (and caches) now: corrupt files fail here
    url = resolve_url(storage_url)
    storage = open_storage(url)
    if more_trials is not None:
        n_trials = _finished_now(storage, study_name) + more_trials
    settings, resumed = start_or_resume(
        storage,
        study_name,
        space=space,
        max_epochs=max_epochs,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        subset=subset,
        n_trials=n_trials,
    )
    # A dead run's trials fail now (slot back, params re-queued), not when a worker first looks.
    recover_dead_trials(optuna.load_study(study_name=study_name, storage=storage))
    if engine == "optuna":
        workers = _capped_workers(storage, study_name, settings, workers)
    searcher = "KerasTuner Hyperband" if engine == "keras-tuner" else f"{settings.sampler} + {settings.pruner}"
    # KerasTuner trains in this process, so under this process's backend; Optuna's workers get theirs.
    backend = worker_backend() if engine == "optuna" else None
    on_backend = f", backend {backend.name} ({backend.reason})" if backend else ""
    view.headline(
        "resuming" if resumed else "starting",
        study_name,
        f": space {settings.space.name!r} ({settings.space.model}), {searcher}, up to {settings.max_epochs} epochs "
        f"a trial, {workers} worker{'s' if workers > 1 else ''}{on_backend}, store {redact(url)}",
    )
    queue = optuna.load_study(study_name=study_name, storage=storage)
    _enqueue_first_trials(view, queue, settings, resumed, engine, warm_start)
    deadline = time.time() + timeout if timeout else None
    env = {"KERAS_BACKEND": backend.name} if backend else {}
    job = WorkerJob(
        storage_url=url, study_name=study_name, deadline=deadline, data_dir=data_dir, verbose=verbose, env=env
    )
    gpus = gpus if gpus is not None else detect_gpus()
    first_new = len(queue.get_trials(deepcopy=False))  # trial numbers from here on are this run's
    run_study(job, settings, workers, gpus, view.open_display, engine_name=engine)
    _say_if_cut(view, storage, study_name, settings, deadline, first_new)
    return optuna.load_study(study_name=study_name, storage=storage)


def _say_if_cut(
    view: RunView,
    storage: optuna.storages.BaseStorage,
    study_name: str,
    settings: StudySettings,
    deadline: float | None,
    first_new: int,
) -> None:
    """After a run: one line when its deadline, not its budget, ended it (the exit code stays 0)."""
    if deadline is not None and time.time() >= deadline:
        line = timeout_line(optuna.load_study(study_name=study_name, storage=storage), settings.n_trials, first_new)
        if line:
            view.say(line)


def timeout_line(study: optuna.Study, budget: int | None, first_new: int) -> str | None:
    """What a run ended by --timeout says: trials done of the budget, and the unfinished trials it
    re-queued (trials numbered from ``first_new`` on are this run's). None when the budget was met."""
    done = count_finished(study)
    if budget is not None and done >= budget:
        return None
    trials = study.get_trials(deepcopy=False)
    requeued = sum(
        1 for t in trials[first_new:] if t.state == optuna.trial.TrialState.WAITING and REQUEUED_FROM in t.user_attrs
    )
    of = f" of {budget}" if budget is not None else ""
    cut = f"; {requeued} unfinished trial{'s' if requeued != 1 else ''} re-queued to run first next time"
    return f"stopped at the --timeout: {done} trial{'s' if done != 1 else ''}{of} done{cut if requeued else ''}"


def _finished_now(storage: optuna.storages.BaseStorage, study_name: str) -> int:
    """Finished trials of the study in the store now; 0 when it does not exist yet."""
    try:
        return count_finished(optuna.load_study(study_name=study_name, storage=storage))
    except KeyError:
        return 0


def _enqueue_first_trials(
    view: RunView, queue: optuna.Study, settings: StudySettings, resumed: bool, engine: str, warm_start: str | None
) -> None:
    """The family's default first, then the known-good points or (``--warm-start seeds``) the seed models."""
    if engine == "optuna" and warm_start != "none" and (not resumed or warm_start is not None):
        queue.enqueue_trial(default_point(settings.space), user_attrs={"warm_start": DEFAULTS}, skip_if_exists=True)
        # The known-good points next, as many as the trial budget leaves room for beside the defaults.
        room = None if settings.n_trials is None else max(0, settings.n_trials - count_finished(queue) - 1)
        # --warm-start seeds asks for the seed models next: they take the known-good points' place.
        for point in [] if warm_start == "seeds" else known_good_points(settings.space)[:room]:
            queue.enqueue_trial(point, user_attrs={"warm_start": KNOWN_GOOD}, skip_if_exists=True)
    if warm_start == "seeds":
        enqueued, skipped = enqueue_warm_start(queue, settings.space)
        first = ", ".join(enqueued) or "none fits this space"
        view.say(f"warm start: {len(enqueued)} seed model(s) first: {first}")
        for reason in skipped:
            view.say(f"  not enqueued: {reason}", dim=True)


def worker_backend() -> BackendChoice:
    """The Keras backend for the workers: KERAS_BACKEND if set, else TensorFlow where installed (runtime/choice.py)."""
    return choose_backend(installed_backends(), os.environ.get("KERAS_BACKEND"))


def _capped_workers(
    storage: optuna.storages.BaseStorage, study_name: str, settings: StudySettings, workers: int
) -> int:
    """Never more worker processes than trials left to run, nor than memory holds; say so in one warning."""
    from search.runtime import worker_cap

    if workers == 1:
        return 1
    study = optuna.load_study(study_name=study_name, storage=storage)
    left = None if settings.n_trials is None else settings.n_trials - count_finished(study)
    footprint = worker_cap.worker_footprint(largest_model(settings.space)[0])
    capped, warning = worker_cap.cap_workers(workers, left, worker_cap.available_memory_bytes(), footprint)
    if warning:
        notices.warn(warning)
    return capped


def join_study(
    view: RunView,
    *,
    study_name: str,
    storage_url: str | None,
    timeout: float | None,
    data_dir: str | None,
    verbose: bool,
) -> None:
    """Run one worker on an existing study, with the settings saved in the store."""
    url = resolve_url(storage_url, must_exist=True)
    storage = open_storage(url, must_exist=True)
    opened, settings = open_study(storage, study_name)
    fmnist_data.load_train_val(data_dir, settings.subset)
    # Workers started by `start` are 0..N-1; a joining one needs its own id, hence its own sampler
    # seed, or it would draw the same random start-up trials as worker 0.
    worker_id = 1000 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000
    backend = worker_backend()
    view.headline(
        "joining", study_name, f" at {redact(url)} as worker {worker_id}, backend {backend.name} ({backend.reason})"
    )
    deadline = time.time() + timeout if timeout else None
    env = {"KERAS_BACKEND": backend.name}
    job = WorkerJob(
        storage_url=url,
        study_name=study_name,
        worker_id=worker_id,
        deadline=deadline,
        data_dir=data_dir,
        verbose=verbose,
        env=env,
    )
    first_new = len(opened.get_trials(deepcopy=False))  # trial numbers from here on are this run's
    # gpus=[]: keep the CUDA_VISIBLE_DEVICES given.
    run_study(job, settings, workers=1, gpus=[], open_display=view.open_display)
    _say_if_cut(view, storage, study_name, settings, deadline, first_new)
