"""Ctrl-C and SIGTERM, handled once, by whatever runs an engine (search/engines/runner.py).

The first signal is only remembered: an exception raised wherever the signal happens to land
could fire inside Optuna's own bookkeeping, SQLAlchemy's transaction handling or a logging
call, and leave a trial RUNNING that no one will finish (seen when workers were stopped by
their dying parent). Instead, the signal asks the training at hand to stop after its current
batch (``stopping_training``: Keras's own ``stop_training`` flag, set from the handler), and the
next safe point, the epoch's end, raises ``Interrupted`` from inside the objective (``check()``),
so Optuna records the trial as failed and its worker re-queues it. In the process the user
started, a second signal raises at once: a user who presses Ctrl-C twice wants out now, and
heartbeats then recover the trial. Worker processes never do: they get several signals for one
stop (Ctrl-C reaches the whole process group, then the parent sends SIGTERM; PR_SET_PDEATHSIG
fires once per exiting thread of the parent), and their parent ends them with SIGKILL if they
take too long.

``Interrupted`` is a KeyboardInterrupt that remembers its signal, so the CLI exits 130 after
Ctrl-C and 143 after SIGTERM (a parent stopping its workers, `docker stop`, systemd).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SLICE_SECONDS = 0.2  # how long a wait may go on after a signal
_received: list[int] = []
_forcing: list[bool] = [True]  # whether a second signal raises at once
_stoppers: list[Callable[[], None]] = []


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; ``exit_code`` is the shell's: 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def _handle(signum: int, _frame: Any) -> None:
    _received.append(signum)
    if len(_received) > 1 and _forcing[-1]:
        raise Interrupted(_received[0])
    for stop in _stoppers:
        stop()


@contextmanager
def stopping_training(stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, a signal calls ``stop`` (it must only set a flag, e.g. ``model.stop_training``)."""
    _stoppers.append(stop)
    try:
        if _received:
            stop()
        yield
    finally:
        _stoppers.remove(stop)


@contextmanager
def signals_as_interrupts(second_forces: bool = True) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are remembered; with ``second_forces``, a second one raises
    ``Interrupted``."""
    _received.clear()
    previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS}
    _forcing.append(second_forces)
    try:
        yield
    finally:
        _forcing.pop()
        _received.clear()  # a signal belongs to the block it came in: later code must not stop for it
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def received() -> int | None:
    """The first signal received, if any."""
    return _received[0] if _received else None


def handled() -> bool:
    """Whether this code runs inside ``signals_as_interrupts`` (else Ctrl-C is Python's KeyboardInterrupt)."""
    return len(_forcing) > 1


def reset() -> None:
    """Forget earlier signals: an engine starting a new run in the same process (tests, benchmarks)."""
    _received.clear()


def note(error: BaseException) -> None:
    """Remember a KeyboardInterrupt that arrived without our handler (a direct call, a test)."""
    if not _received:
        _received.append(getattr(error, "signum", signal.SIGINT))


def check() -> None:
    """A safe point: raise ``Interrupted`` if a signal was received."""
    signum = received()
    if signum is not None:
        raise Interrupted(signum)


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early, raising ``Interrupted``, once a signal is received."""
    until = time.monotonic() + seconds
    while True:
        check()
        left = until - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, SLICE_SECONDS))


def wrapped_interrupt(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C behind ``error``, when a library wrapped one in its own exception.

    A Ctrl-C that lands inside a lazy import can come out as another error: Python's dataclass
    machinery turns it into ``RuntimeError: Error calling __set_name__`` with the interrupt as its
    cause. That is still the user's Ctrl-C, not a crash.
    """
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None
