"""Run a study: one engine in this process, or N worker processes, under one live display.

This is the one caller of both engines (search/engines/optuna/worker.py for Optuna, search/engines/keras_tuner/engine.py
for KerasTuner), so the live display and the handling of Ctrl-C and SIGTERM exist once, here:
inside ``signals_as_interrupts`` either signal stops the trial at hand, which its engine re-queues
before ``Interrupted`` reaches the CLI (exit 130 or 143).

Worker processes never outlive the run: each one dies with its parent (PR_SET_PDEATHSIG on
Linux, a watchdog on the parent's pid elsewhere), taking the same SIGTERM path. A worker that
dies without a word (SIGKILL, the OOM killer) has its running trial failed and re-queued by the
parent at once, and the run's error names what happened to it.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import optuna

from search import notices
from search.engines.coordinator import recover_dead_trials, worker_process
from search.engines.interface import Engine, WorkerJob
from search.engines.optuna.worker import run_worker
from search.engines.record import one_line
from search.engines.run_view import DisplayFactory
from search.errors import WorkerError
from search.runtime import interrupts
from search.runtime.choice import process_backend
from search.runtime.devices import worker_environment
from search.study.settings import StudySettings, open_study
from storage import open_storage
from storage.runs import next_run

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import SimpleQueue

POLL_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def engine(name: str) -> Engine:
    """The engine called ``name`` ('optuna' or 'keras-tuner'); KerasTuner is imported only when chosen."""
    if name == "keras-tuner":
        from search.engines.keras_tuner.engine import run_keras_tuner

        return run_keras_tuner
    return run_worker


def run_study(
    job: WorkerJob,
    settings: StudySettings,
    workers: int,
    gpus: list[str],
    open_display: DisplayFactory,
    engine_name: str = "optuna",
) -> None:
    """Run ``workers`` workers on the study until its budget or deadline, under the caller's display."""
    study, _ = open_study(open_storage(job.storage_url), job.study_name)
    started = time.time()
    cores = os.cpu_count() or 1
    first = job.worker_id  # 0 for `start`; a joining worker brings its own id
    run = next_run(job.storage_url, job.study_name)  # one number for all of this run's workers
    jobs = [
        replace(job, worker_id=first + i, run=run, env={**job.env, **worker_environment(i, workers, gpus, cores)})
        for i in range(workers)
    ]
    # The live view on a terminal, else a log: a line per finished trial, a status line a minute.
    display = open_display(study, settings, started, job.deadline, workers, {j.worker_id for j in jobs})
    with interrupts.signals_as_interrupts(), display:
        try:
            # A lone worker runs here, unless it needs another backend than this process has.
            here = process_backend()
            if workers == 1 and job.env.get("KERAS_BACKEND", here) == here:
                # Refresh on every epoch: the display reads the store, which the worker just wrote.
                refresh = display.refresh
                engine(engine_name)(jobs[0], listener=lambda *_: refresh(), after_trial=lambda _: refresh())
            else:
                _run_processes(jobs, study, display.refresh)
        finally:
            display.refresh()


def _die_with_parent(parent_pid: int) -> None:
    """SIGTERM this process when its parent dies, by any signal: no worker trains on as an orphan."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    else:

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def worker_process_main(
    job: WorkerJob, messages: SimpleQueue[tuple[int, str]] | None = None, parent_pid: int | None = None
) -> None:
    """A worker process's body: its exit code and one line in ``messages`` say how it ended."""
    notices.show_on_stderr()  # a spawned process has no UI: its warnings are plain stderr lines
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    with interrupts.signals_as_interrupts(second_forces=False):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.SIGNALS)  # held since the parent started it
        try:
            interrupts.check()  # the parent died while this process started: go before importing more
            run_worker(job)
        except KeyboardInterrupt:  # its trial is already re-queued; the exit code says which signal
            sys.exit(128 + (interrupts.received() or signal.SIGINT))
        except Exception as error:  # noqa: BLE001 - reported by the parent, in one line
            if messages is not None:
                messages.put((os.getpid(), one_line(error) if not isinstance(error, WorkerError) else str(error)))
            sys.exit(1)


def _run_processes(jobs: list[WorkerJob], study: optuna.Study, refresh: Callable[[], None]) -> None:
    # "spawn": a forked TensorFlow runtime is not safe, and spawn is what other OSes use anyway.
    context = multiprocessing.get_context("spawn")
    messages: SimpleQueue[tuple[int, str]] = context.SimpleQueue()
    processes = [
        context.Process(target=worker_process_main, args=(job, messages, os.getpid()), name=f"worker-{job.worker_id}")
        for job in jobs
    ]
    with _signals_held():
        for process in processes:
            process.start()
    requeued: dict[int, list[int]] = {}  # pid -> trials of that dead worker failed and re-queued here
    try:
        while any(p.is_alive() for p in processes):
            refresh()
            _fail_trials_of_dead(processes, study, requeued)
            interrupts.sleep(POLL_SECONDS)  # Ctrl-C or SIGTERM to this process: stop the workers
    except KeyboardInterrupt:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker records and re-queues its trial
        raise
    finally:
        _stop(processes)
        _fail_trials_of_dead(processes, study, requeued)
    said = dict(_drain(messages))
    problems = [_ending(p, said.get(p.pid), requeued.get(p.pid or 0, [])) for p in processes if p.exitcode != 0]
    if problems:
        raise WorkerError("; ".join(problems))


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while worker processes start: each inherits the held mask, so a
    signal that arrives while it is still importing waits until its handler is installed, instead
    of printing a KeyboardInterrupt traceback from the middle of an import. This process gets its
    own pending signal as soon as the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _fail_trials_of_dead(processes: list[BaseProcess], study: optuna.Study, done: dict[int, list[int]]) -> None:
    """A worker that died with a trial running cannot give it back: do it for it, without waiting for its heartbeat."""
    for process in processes:
        if process.pid is not None and process.pid not in done and process.exitcode not in (None, 0):
            done[process.pid] = recover_dead_trials(study, worker_process(process.pid), _how_it_ended(process))


def _how_it_ended(process: BaseProcess) -> str:
    code = process.exitcode or 0
    if code < 0:
        name = signal.Signals(-code).name
        return f"was killed by {name}" + (" (the out-of-memory killer, or kill -9)" if name == "SIGKILL" else "")
    return f"exited with code {code}"


def _drain(messages: SimpleQueue[tuple[int, str]]) -> list[tuple[int, str]]:
    said = []
    while not messages.empty():
        said.append(messages.get())
    return said


def _ending(process: BaseProcess, message: str | None, requeued: list[int]) -> str:
    """One clause on how a worker process ended badly."""
    code = process.exitcode or 0
    after = f"; its trial {', '.join(map(str, requeued))} was re-queued" if requeued else ""
    if code < 0:
        return f"{process.name} was killed by {signal.Signals(-code).name}{after}"
    if code - 128 in (signal.SIGINT, signal.SIGTERM):
        return f"{process.name} was stopped by {signal.Signals(code - 128).name}; its trial was re-queued"
    return f"{process.name} stopped: {message or f'exit code {code}'}{after}"


def _stop(processes: list[BaseProcess]) -> None:
    """Give workers a moment to record their trials, then end whatever is left: no orphans."""
    deadline = time.time() + STOP_GRACE_SECONDS
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.time()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
