"""A real, throwaway PostgreSQL server for tests that claim PostgreSQL.

A mocked or "skipped unless DATABASE_URL is set" backend proves nothing about the SQL store
that workers really share, so the session starts its own server on 127.0.0.1: ``initdb`` a
cluster in a temp dir (trust auth, no fsync), ``pg_ctl start`` on a free port, and stop it
(``-m immediate``) and delete the dir at the end. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the ``postgres`` system user instead.

Fixtures: ``postgres_server`` (session), ``postgres_url`` (a fresh database per test) and
``store_url`` (every contract test once on SQLite, once on PostgreSQL).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SKIP_REASON = "no PostgreSQL server binaries found (apt-get install postgresql)"
HOST = "127.0.0.1"
SUPERUSER = "postgres"
START_TIMEOUT_S = 30
# Users to run the server as when the tests run as root (initdb/postgres refuse root).
UNPRIVILEGED_USERS = ("postgres", "nobody")
SERVER_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",  # a throwaway cluster: durability costs time and buys nothing
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def _version_key(bin_dir: str) -> tuple[int, ...]:
    match = re.search(r"postgresql/([\d.]+)/bin", bin_dir)
    return tuple(int(part) for part in match.group(1).split(".") if part) if match else ()


def find_bin_dir() -> Path | None:
    """A directory holding initdb, pg_ctl and postgres: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)  # Debian symlinks point into the versioned dir
        candidates.append(Path(on_path).parent)
    for bin_dir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        candidates.append(Path(bin_dir))
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PostgresServer:
    """One throwaway cluster; ``stop``/``start``/``restart`` let tests prove clients survive an outage."""

    def __init__(self, bin_dir: Path, base: Path, run_as: pwd.struct_passwd | None) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.data_dir = base / "data"
        self.socket_dir = base / "sock"
        self.log_file = base / "server.log"
        self.run_as = run_as
        self.host = HOST
        self.port = free_port()
        self.user = SUPERUSER

    # -- commands --------------------------------------------------------------------------------

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self.run_as is not None:
            if shutil.which("runuser"):
                return ["runuser", "-u", self.run_as.pw_name, "--", *command]
            return ["su", self.run_as.pw_name, "-s", "/bin/sh", "-c", subprocess.list2cmdline(command)]
        return command

    def _run(
        self, program: str, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        # Output goes to a file, not a pipe: the postmaster that pg_ctl leaves behind must not hold our pipe open.
        out_path = self.base / f"{program}.out"
        with open(out_path, "w") as out:
            done = subprocess.run(
                self._command(program, *args),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.base,
                timeout=timeout,
                text=True,
                check=False,
            )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed (rc={done.returncode}):\n{self._tail(out_path)}\n"
                f"server log:\n{self._tail(self.log_file)}"
            )
        return done

    @staticmethod
    def _tail(path: Path, lines: int = 30) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(none)"

    # -- life cycle ------------------------------------------------------------------------------

    def init(self) -> None:
        """initdb a cluster that trusts loopback connections and listens on 127.0.0.1 only."""
        self.socket_dir.mkdir()
        if self.run_as is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"
        )
        settings = dict(SERVER_SETTINGS, port=str(self.port), unix_socket_directories=f"'{self.socket_dir}'")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# throwaway test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """Start the server and return once it accepts connections on 127.0.0.1:port."""
        self._run(
            "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", str(START_TIMEOUT_S)
        )
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` drops clients' connections, as a real restart would)."""
        if self.is_running():
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(START_TIMEOUT_S))

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError as error:  # while the server starts
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on {self.host}:{self.port} not ready after {timeout}s: {error}\n"
                        f"server log:\n{self._tail(self.log_file)}"
                    ) from None
                time.sleep(0.1)

    def cleanup(self) -> None:
        """Never leave a server running: immediate stop, then delete the cluster."""
        try:
            if self.is_running():
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", check=False)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- clients ---------------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> Any:
        """A psycopg2 connection in autocommit mode (CREATE/DROP DATABASE cannot run in a transaction)."""
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname, connect_timeout=5)
        connection.autocommit = True
        return connection


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session; skipped where no binaries are installed."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(SKIP_REASON)
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed")
    run_as = None
    if os.geteuid() == 0:
        run_as = _unprivileged_user()
        if run_as is None:
            pytest.skip(f"running as root and no unprivileged user ({', '.join(UNPRIVILEGED_USERS)}) to run PostgreSQL")
    base = Path(tempfile.mkdtemp(prefix="fmnist-pg-"))
    server = PostgresServer(bin_dir, base, run_as)
    atexit.register(server.cleanup)  # also on an interrupted session
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()
        atexit.unregister(server.cleanup)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards (its open connections are cut first)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    connection = postgres_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    yield postgres_server.url(name)
    if not postgres_server.is_running():  # a test stopped it and failed before starting it again
        postgres_server.start()
    connection = postgres_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both backends; the PostgreSQL one asks for a server only when it runs."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return str(request.getfixturevalue("postgres_url"))
