"""Run a study: one worker in this process, or N worker processes, under one live display."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import replace
from typing import Callable

from rich.console import Console
from rich.live import Live

from search.devices import worker_environment
from search.progress import StudySnapshot, render_live, take_snapshot
from search.study import StudySettings, open_study
from search.worker import WorkerError, WorkerJob, run_worker
from storage import open_storage
from storage.runs import next_run

POLL_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0


def run_study(job: WorkerJob, settings: StudySettings, workers: int, gpus: list[str], console: Console) -> StudySnapshot:
    """Run ``workers`` workers on the study until its budget or deadline; return the final snapshot."""
    study, _ = open_study(open_storage(job.storage_url), job.study_name)
    started = time.time()
    cores = os.cpu_count() or 1
    first = job.worker_id  # 0 for `start`; a joining worker brings its own id
    run = next_run(job.storage_url, job.study_name)  # one number for all of this run's workers
    jobs = [replace(job, worker_id=first + i, run=run, env=worker_environment(i, workers, gpus, cores)) for i in range(workers)]

    def view() -> object:
        return render_live(take_snapshot(study, settings), started, job.deadline)

    with Live(view(), console=console, refresh_per_second=4, transient=False) as live:
        if workers == 1:
            # Refresh on every epoch: the display reads the store, which the worker just wrote.
            run_worker(jobs[0], listener=lambda *_: live.update(view()), after_trial=lambda _: live.update(view()))
        else:
            _run_processes(jobs, lambda: live.update(view()))
        live.update(view())
    return take_snapshot(study, settings)


def _worker_process(job: WorkerJob) -> None:
    try:
        run_worker(job)
    except KeyboardInterrupt:
        pass  # the trial is already recorded as failed and re-queued; the parent reports it


def _run_processes(jobs: list[WorkerJob], refresh: Callable[[], None]) -> None:
    # "spawn": a forked TensorFlow runtime is not safe, and spawn is what other OSes use anyway.
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_process, args=(job,), name=f"worker-{job.worker_id}") for job in jobs]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            refresh()
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker records and re-queues its trial
        raise
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
            process.kill()
            process.join()
