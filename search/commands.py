"""What each CLI command does, apart from option parsing: one function per command."""

from __future__ import annotations

import os
import socket
import time
import zlib

import optuna
from rich.console import Console

from search import data as fmnist_data
from search.devices import detect_gpus
from search.progress import params_table, studies_table, take_snapshot, trials_table
from search.runner import run_study
from search.study import StudyError, open_study, start_or_resume
from search.worker import WorkerJob
from spaces.space import load_space
from storage import open_storage, redact, resolve_url


def start_study(
    console: Console,
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
) -> None:
    """Create or resume a study, then run its workers until the budget or the timeout."""
    if space is None and study_name is None:
        raise StudyError("say which space to search (--space dense|cnn|FILE) or which study to resume (--study NAME)")
    # Check the space and the data before anything is written: bad input leaves no empty study behind.
    if space is not None:
        study_name = study_name or load_space(space).name
    fmnist_data.load_train_val(data_dir, subset)  # parses (and caches) now: corrupt files fail here
    url = resolve_url(storage_url)
    storage = open_storage(url)
    settings, resumed = start_or_resume(
        storage, study_name, space=space, max_epochs=max_epochs, sampler=sampler, pruner=pruner, seed=seed, subset=subset, n_trials=n_trials
    )
    verb = "resuming" if resumed else "starting"
    console.print(
        f"[bold]{verb}[/] study [cyan]{study_name}[/]: space {settings.space.name!r} ({settings.space.model}), "
        f"{settings.sampler} + {settings.pruner}, up to {settings.max_epochs} epochs a trial, "
        f"{workers} worker{'s' if workers > 1 else ''}, store {redact(url)}",
        highlight=False,
    )
    deadline = time.time() + timeout if timeout else None
    job = WorkerJob(storage_url=url, study_name=study_name, deadline=deadline, data_dir=data_dir, verbose=verbose)
    run_study(job, settings, workers, gpus if gpus is not None else detect_gpus(), console)
    console.print(f"\nsee all trials: fmnist-search status --study {study_name}" + (f" --storage '{storage_url}'" if storage_url else ""))


def join_study(console: Console, *, study_name: str, storage_url: str | None, timeout: float | None, data_dir: str | None, verbose: bool) -> None:
    """Run one worker on an existing study, with the settings saved in the store."""
    url = resolve_url(storage_url, must_exist=True)
    _, settings = open_study(open_storage(url), study_name)
    fmnist_data.load_train_val(data_dir, settings.subset)
    # Workers started by `start` are 0..N-1; a joining one needs its own id, hence its own sampler
    # seed, or it would draw the same random start-up trials as worker 0.
    worker_id = 1000 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000
    console.print(f"[bold]joining[/] study [cyan]{study_name}[/] at {redact(url)} as worker {worker_id}", highlight=False)
    deadline = time.time() + timeout if timeout else None
    job = WorkerJob(storage_url=url, study_name=study_name, worker_id=worker_id, deadline=deadline, data_dir=data_dir, verbose=verbose)
    run_study(job, settings, workers=1, gpus=[], console=console)  # gpus=[]: keep the CUDA_VISIBLE_DEVICES given


def show_status(console: Console, study_name: str | None, storage_url: str | None) -> None:
    """One line per study, or the best trials of one study."""
    storage = open_storage(resolve_url(storage_url, must_exist=True))
    if study_name is not None:
        study, settings = open_study(storage, study_name)
        snapshot = take_snapshot(study, settings)
        console.print(studies_table([(study_name, snapshot)]))
        console.print(trials_table(study))
        if snapshot.best_value is not None:
            console.print(params_table(f"params of the best trial ({snapshot.best_number})", snapshot.best_params))
        return
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        try:
            study, settings = open_study(storage, summary.study_name)
            rows.append((summary.study_name, take_snapshot(study, settings)))
        except StudyError:
            rows.append((summary.study_name, None))
    if not rows:
        console.print("the store holds no study yet; start one with: fmnist-search start --space dense")
        return
    console.print(studies_table(rows))


def serve_dashboard(console: Console, *, storage_url: str | None, host: str, port: int, artifacts: str | None) -> None:
    """Serve optuna-dashboard on the store until Ctrl-C; print where to open it."""
    from search import dashboard

    def ready(served: dashboard.Dashboard) -> None:
        console.print(
            f"dashboard of {redact(served.storage_url)} (trial files in {served.artifacts})\n"
            f"open [bold]{served.url}[/] in your browser; Ctrl-C stops it",
            highlight=False,
        )

    dashboard.serve_dashboard(storage_url, host, port, artifacts, ready)
    console.print("dashboard stopped")


def prepare_data(console: Console, data_dir: str | None) -> None:
    """Locate (or download) and parse the training and test files, warming the array cache."""
    for part in ("train", "test"):
        directory = fmnist_data.locate(part, data_dir)
        started = time.perf_counter()
        images, labels = fmnist_data.load_part(part, data_dir)
        seconds = time.perf_counter() - started
        console.print(f"{part}: {len(images):,} images from {directory} (loaded in {seconds:.2f} s)", highlight=False)
    split = fmnist_data.load_train_val(data_dir)
    console.print(f"split: {len(split.x_train):,} train / {len(split.x_val):,} validation; the test images stay sealed", highlight=False)
