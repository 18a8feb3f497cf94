"""Serve optuna-dashboard on the project's store, with its artifact store, until Ctrl-C or SIGTERM.

The dashboard reads the store through the project's own storage (storage.open_storage), so
its SQLite connections use WAL and the long busy timeout like every worker's: a dashboard
polling a study does not make a running worker fail with "database is locked"
(optuna-dashboard issue #545).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from storage import open_storage, resolve_url
from storage.artifacts import artifact_dir, open_artifact_store


class DashboardError(RuntimeError):
    """The dashboard cannot listen where it was told to (port taken, unknown host)."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a slow page (a large study) does not hold the others up."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log: a browser polling every few seconds would flood the terminal."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@dataclass(frozen=True)
class Dashboard:
    """Where a started dashboard listens and what it shows."""

    url: str
    storage_url: str
    artifacts: str


def serve_dashboard(storage_url: str | None, host: str, port: int, artifacts: str | None, on_ready: Callable[[Dashboard], None]) -> None:
    """Serve until interrupted; ``on_ready`` hears the URL (port 0 picks a free port) once it listens.

    A store that does not exist is a StorageError, never an empty new database.
    """
    import optuna_dashboard  # here, not at the top: every other command would pay for its import

    url = resolve_url(storage_url, must_exist=True)
    storage = open_storage(url, must_exist=True)
    store = open_artifact_store(url, artifacts)
    app = optuna_dashboard.wsgi(storage, artifact_store=store)
    try:
        server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    except OSError as error:
        raise DashboardError(f"cannot serve the dashboard on {host}:{port}: {error.strerror or error}") from None
    # SIGTERM (docker stop, a test ending) stops it the way Ctrl-C does: the socket is closed.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        on_ready(Dashboard(f"http://{_display_host(host)}:{server.server_port}/dashboard", url, str(artifact_dir(url, artifacts))))
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _display_host(host: str) -> str:
    """A URL a browser can open: a wildcard address is reached through loopback on this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else host
