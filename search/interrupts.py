"""Ctrl-C and SIGTERM, handled once, by whatever runs an engine (search/runner.py).

Both signals become ``Interrupted``, a KeyboardInterrupt that remembers its signal, so the CLI
exits 130 after Ctrl-C and 143 after SIGTERM (a parent stopping its workers, `docker stop`,
systemd). The signal is also remembered here: TensorFlow may turn the exception into another
one on its way out of ``fit`` (a RuntimeError about device scopes), and KerasTuner records any
exception of a trial as a failed trial and carries on; the engines ask ``received()`` after each
trial and stop.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []
_active: list[bool] = []  # inside signals_as_interrupts


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; ``exit_code`` is the shell's: 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def _handle(signum: int, _frame: Any) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``Interrupted`` and are remembered."""
    _received.clear()
    previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS}
    _active.append(True)
    try:
        yield
    finally:
        _active.pop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def received() -> int | None:
    """The first signal received inside ``signals_as_interrupts``, if any."""
    return _received[0] if _received else None


def reset() -> None:
    """Forget earlier signals: an engine starting a new run in the same process (tests, benchmarks)."""
    _received.clear()


def note(error: BaseException) -> None:
    """Remember a KeyboardInterrupt that arrived without our handler (a direct call, a test)."""
    if not _received:
        _received.append(getattr(error, "signum", signal.SIGINT))


def ignore_further() -> None:
    """A second signal must not cut the bookkeeping of the first short (until the block ends)."""
    if _active:
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def raise_received() -> None:
    """Raise the interruption remembered, if one was."""
    signum = received()
    if signum is not None:
        raise Interrupted(signum)
