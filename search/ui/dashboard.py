"""Serve optuna-dashboard on the project's store, with its artifact store, until Ctrl-C or SIGTERM.

The dashboard reads the store through the project's own storage (storage.open_storage), so
its SQLite connections use WAL and the long busy timeout like every worker's: a dashboard
polling a study does not make a running worker fail with "database is locked"
(optuna-dashboard issue #545).
"""

from __future__ import annotations

import ipaddress
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from search.errors import DashboardError
from search.ui.console import report_error
from storage import open_storage, redact, resolve_url
from storage.artifacts import describe_artifact_store, open_artifact_store

if TYPE_CHECKING:
    from rich.console import Console


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a slow page (a large study) does not hold the others up."""

    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    """The same on an IPv6 address (``--host ::`` listens on every interface, IPv4 included on Linux)."""

    address_family = socket.AF_INET6


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
    warning: str | None = None  # who else can reach it, when it does not listen on loopback only


def serve_dashboard(
    storage_url: str | None, host: str, port: int, artifacts: str | None, on_ready: Callable[[Dashboard], None]
) -> None:
    """Serve until interrupted; ``on_ready`` hears the URL (port 0 picks a free port) once it listens.

    A store that does not exist is a StorageError, never an empty new database.
    """
    import optuna_dashboard  # here, not at the top: the CLI imports this module, and only `dashboard` serves it

    url = resolve_url(storage_url, must_exist=True)
    storage = open_storage(url, must_exist=True)
    store = open_artifact_store(url, artifacts)
    app = optuna_dashboard.wsgi(storage, artifact_store=store)
    try:
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    except OSError as error:
        raise DashboardError(f"cannot serve the dashboard on {host}:{port}: {error.strerror or error}") from error
    # SIGTERM (docker stop, a test ending) stops it the way Ctrl-C does: the socket is closed.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        served_port = server.server_port
        url_here = f"http://{_display_host(host)}:{served_port}/dashboard"
        on_ready(Dashboard(url_here, url, describe_artifact_store(url, artifacts), exposure_warning(host, served_port)))
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _display_host(host: str) -> str:
    """A URL a browser on this machine can open: a wildcard address is reached through loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def exposure_warning(host: str, port: int) -> str | None:
    """One line saying who can reach a dashboard listening beyond loopback, and what they can do; None on loopback."""
    if is_loopback(host):
        return None
    where = "every network interface" if host in ("", "0.0.0.0", "::") else host
    reach = (
        f"http://{socket.gethostname()}:{port}/dashboard"
        if host in ("", "0.0.0.0", "::")
        else f"http://{_display_host(host)}:{port}/dashboard"
    )
    return (
        f"the dashboard listens on {where}: anyone who can reach this machine on port {port} ({reach}) can read, "
        "change and delete every study, without a login; use --host 127.0.0.1 and an SSH tunnel instead"
    )


def run_dashboard(console: Console, *, storage_url: str | None, host: str, port: int, artifacts: str | None) -> None:
    """Serve optuna-dashboard on the store until Ctrl-C; print where to open it."""

    def ready(served: Dashboard) -> None:
        if served.warning:
            report_error(served.warning, label="warning")
        console.print(
            f"dashboard of {redact(served.storage_url)} (trial files in {served.artifacts})\n"
            f"open [bold]{served.url}[/] in your browser; Ctrl-C stops it",
            highlight=False,
        )

    serve_dashboard(storage_url, host, port, artifacts, ready)
    console.print("dashboard stopped")
