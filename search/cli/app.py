"""The ``fmnist-search`` command line: parse options, call one function, show the result."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from search import errors
from search.runtime.interrupts import wrapped_interrupt
from search.ui.console import LOG_FORMATS, report_error, show_notices


class _OneLineUsageErrors(TyperGroup):
    """Usage errors (a value out of range, an unknown option or choice) end like every other bad
    input: one ``error:`` line on stderr and exit code 1, instead of Click's usage box and exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.core._click.exceptions.NoArgsIsHelpError as error:
            error.show()  # no arguments at all: the help is the answer
            sys.exit(0)
        except typer.core._click.exceptions.UsageError as error:
            hint = f"; see '{error.ctx.command_path} --help'" if error.ctx is not None else ""
            report_error(f"{error.format_message().rstrip('.')}{hint}")
            sys.exit(1)
        except typer.Abort:  # end of input at a prompt (typer.Abort: the vendored Click has none of its own)
            report_error("aborted", label="interrupted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineUsageErrors,
    name="fmnist-search",
    help="Hyperparameter search for Keras models on Fashion-MNIST: parallel Optuna workers, "
    "pruning, and every trial in a SQL store.\n\n"
    "Example: fmnist-search start --space dense --trials 20, then fmnist-search status",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion: Typer's own, for bash, zsh, fish and PowerShell.
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Click's plain help: rich panels show every flag as "--verbose <bool>" in this Typer version.
    rich_markup_mode=None,
)
LogFormat = Enum("LogFormat", {name: name for name in LOG_FORMATS}, type=str)  # type: ignore[misc]

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="SQLAlchemy URL of the store, e.g. postgresql+psycopg2://user:pw@host/db. "
        "Default: the SQLite file $FMNIST_SEARCH_HOME/studies.db (~/.local/share/fmnist-search/studies.db).",
        show_default=False,
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", help="Show TensorFlow's own log output, and what caused an error.")
]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="auto: the live view on a terminal, else text. text: one line per finished trial and a status "
        "line every minute (for nohup, docker compose logs, CI). json: the same as one JSON object per line "
        "on stdout; the other messages go to stderr.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table, for scripts.")]
DataDirOption = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help="Folder with the four Fashion-MNIST IDX files (.gz or not). Default: $FMNIST_DATA_DIR, else Debian's "
        "/usr/share/datasets/fashion-mnist, then the user cache, else a checksummed download.",
        show_default=False,
    ),
]


# What Ctrl-C leaves behind, said after "interrupted:" by the commands that run for long.
INTERRUPTED_STUDY = "running trials were recorded as failed and re-queued; start the study again to resume"
INTERRUPTED_KERAS_TUNER = (
    "the running KerasTuner trial was dropped (it is written only when it ends) and its slot freed; "
    "start the study again to resume"
)
INTERRUPTED_EXPORT = "nothing was exported; an earlier export of this trial, if any, is unchanged"
INTERRUPTED = "stopped"


@contextmanager
def user_errors(interrupted: str = INTERRUPTED, verbose: bool = False) -> Iterator[None]:
    """Bad input and unreachable services end in one line on stderr and exit code 1, never a traceback.

    ``verbose`` adds one line per chained cause. Ctrl-C ends in one line and exit code 130;
    ``interrupted`` says what it left behind.
    """
    try:
        yield
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (search/runtime/interrupts.py): 130 or 143
        report_error(interrupted, label="interrupted")
        raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None
    # Looked up only when an error got here: USER_ERRORS imports the storage package (search/errors.py).
    except errors.USER_ERRORS as error:
        report_error(str(error))
        if verbose:
            for cause in _causes(error):
                report_error(cause, label="caused by")
        raise typer.Exit(1) from None
    except Exception as error:
        interrupt = wrapped_interrupt(error)
        if interrupt is None:
            raise
        report_error(interrupted, label="interrupted")
        raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None


def _causes(error: BaseException) -> Iterator[str]:
    """The chain under an error, one line each (type and first line), passwords in URLs hidden."""
    cause = error.__cause__
    while cause is not None:
        text = str(cause).strip().splitlines()
        line = f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__
        yield _DSN_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", line))
        cause = cause.__cause__


# A driver's or SQLAlchemy's message may quote the storage URL (user:password@) or a DSN (password=...).
_URL_PASSWORD = re.compile(r"(//[^:/@\s]*:)[^@\s]*@")
_DSN_PASSWORD = re.compile(r"(password=)[^\s&;'\"]*", re.IGNORECASE)


def _show_version(value: bool) -> None:
    if value:
        from search import __version__

        typer.echo(f"fmnist-search {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """The options of fmnist-search itself; its help is the Typer's (above)."""
    show_notices()  # the core's warnings, as one coloured line each on stderr


def main() -> None:
    """The ``fmnist-search`` script: every command, one line for an error or a Ctrl-C anywhere."""
    try:
        app(prog_name="fmnist-search")
    except KeyboardInterrupt:  # between commands' own handlers, e.g. while Click parses
        report_error(INTERRUPTED, label="interrupted")
        sys.exit(130)
    except Exception as error:
        if wrapped_interrupt(error) is None:
            raise
        report_error(INTERRUPTED, label="interrupted")
        sys.exit(130)


if __name__ == "__main__":
    sys.exit(main())
