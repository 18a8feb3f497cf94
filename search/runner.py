"""Run a study: one worker in this process, or N worker processes, under one live display."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import replace
from typing import Callable

from rich.console import Console
from rich.live import Live

from search.progress import StudySnapshot, render_live, take_snapshot
from search.study import StudySettings, open_study
from search.worker import WorkerError, WorkerJob, run_worker
from storage import open_storage

POLL_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0


def run_study(job: WorkerJob, settings: StudySettings, workers: int, console: Console) -> StudySnapshot:
    """Run ``workers`` workers on the study until its budget or deadline; return the final snapshot."""
    study, _ = open_study(open_storage(job.storage_url), job.study_name)
    started = time.time()

    def view() -> object:
        return render_live(take_snapshot(study, settings), started, job.deadline)

    with Live(view(), console=console, refresh_per_second=4, transient=False) as live:
        if workers == 1:
            # Refresh on every epoch: the display reads the store, which the worker just wrote.
            run_worker(job, listener=lambda *_: live.update(view()), after_trial=lambda _: live.update(view()))
        else:
            _run_processes(job, workers, lambda: live.update(view()))
        live.update(view())
    return take_snapshot(study, settings)


def _worker_process(job: WorkerJob) -> None:
    try:
        run_worker(job)
    except KeyboardInterrupt:
        pass  # the parent shows what happened; Optuna has already recorded the trial as failed


def _run_processes(job: WorkerJob, workers: int, refresh: Callable[[], None]) -> None:
    # "spawn": a forked TensorFlow runtime is not safe, and spawn is what other OSes use anyway.
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_process, args=(replace(job, worker_id=i),), name=f"worker-{i}") for i in range(workers)]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            refresh()
            time.sleep(POLL_SECONDS)
    finally:
        _stop(processes)
    failed = [f"{p.name} (exit {p.exitcode})" for p in processes if p.exitcode != 0]
    if failed:
        raise WorkerError(f"{', '.join(failed)} stopped with an error; see its message above")


def _stop(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Give workers a moment to record their trials, then end whatever is left: no orphans."""
    deadline = time.time() + STOP_GRACE_SECONDS
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.time()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
