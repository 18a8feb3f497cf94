"""A folder written whole or not at all, by one run only.

Everything goes into a staging folder of this run's own (``<folder>.partial-<host>-<pid>-<random>``),
which is renamed into place once complete. A failure or Ctrl-C part-way leaves the previous folder
(or nothing) in place; of two runs writing one folder at once, each places a whole folder or fails
in one line. Staging folders of killed runs on this host are cleared by the next run.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

from search.errors import ExportError

PARTIAL_SUFFIX = ".partial"  # staging folders: <folder>.partial-<host>-<pid>-<random>


def make_staging(folder: Path) -> Path:
    """A new empty folder beside ``folder`` that only this run writes into; killed runs' leftovers are cleared first."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_staging(folder)
    staging = folder.with_name(_run_prefix(folder) + secrets.token_hex(4))
    staging.mkdir()  # not tempfile.mkdtemp: its 0700 would become the export's own permissions
    return staging


def put_in_place(staging: Path, folder: Path) -> None:
    """Rename the finished ``staging`` to ``folder``, replacing a previous export there only once this one is in.

    A rename onto a folder that holds files fails, so when another run has put its folder there
    since this one set the previous export aside, that run's export stays and this one is dropped.
    """
    previous = set_aside(folder)
    try:
        staging.rename(folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if previous is not None:
            _restore(previous, folder)
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            lost = f"another export into {folder} finished while this one was writing; kept that one"
            raise ExportError(lost) from error
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def set_aside(folder: Path) -> Path | None:
    """Move a previous export out of the way under this run's staging prefix (cleared like staging if the run dies)."""
    aside = folder.with_name(f"{_run_prefix(folder)}{secrets.token_hex(4)}.previous")
    try:
        folder.rename(aside)
    except FileNotFoundError:
        return None
    return aside


def _restore(previous: Path, folder: Path) -> None:
    """Put the previous export back; if another run's export is there now, that one is newer and stays."""
    try:
        previous.rename(folder)
    except OSError:
        shutil.rmtree(previous, ignore_errors=True)


def clear_stale_staging(folder: Path) -> None:
    """Remove staging folders of ``folder`` left by killed runs on this host (and the shared one of earlier versions).

    A folder whose run is still alive is left alone: it may be a concurrent export of the same trial.
    A previous export that a killed run had set aside, with nothing put in its place, is put back.
    """
    shutil.rmtree(folder.with_name(folder.name + PARTIAL_SUFFIX), ignore_errors=True)
    prefix = f"{folder.name}{PARTIAL_SUFFIX}-"
    for path in folder.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        owner = path.name[len(prefix) :].rsplit("-", 2)
        if len(owner) != 3 or owner[0] != _host() or not owner[1].isdigit() or _alive(int(owner[1])):
            continue
        if path.name.endswith(".previous") and not folder.exists():
            _restore(path, folder)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _run_prefix(folder: Path) -> str:
    return f"{folder.name}{PARTIAL_SUFFIX}-{_host()}-{os.getpid()}-"


def _host() -> str:
    """This machine's name, in the characters a staging folder's name may hold (no dashes: they separate its parts)."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but belongs to someone else
    return True
