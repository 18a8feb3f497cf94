"""The ``fmnist-search`` command line: parse options, call one function, show the result."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, Iterator, Optional, Sequence

import typer
from typer.core import TyperGroup

from search.errors import ExportError, FmnistSearchError
from search.runtime.interrupts import wrapped_interrupt
from search.runtime.quiet import configure_logging
from search.study.settings import MAX_SEED, PRUNERS, SAMPLERS
from search.ui.console import console, report_error
from search.ui.display import LOG_FORMATS
from spaces.model_size import DEFAULT_MAX_PARAMS


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
    "pruning, and every trial in a SQL store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion: Typer's own, for bash, zsh, fish and PowerShell.
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Click's plain help: rich panels show every flag as "--verbose <bool>" in this Typer version.
    rich_markup_mode=None,
)
SamplerName = Enum("SamplerName", {name: name for name in SAMPLERS}, type=str)  # type: ignore[misc]
PrunerName = Enum("PrunerName", {name: name for name in PRUNERS}, type=str)  # type: ignore[misc]
WarmStart = Enum("WarmStart", {"seeds": "seeds"}, type=str)  # type: ignore[misc]
EngineName = Enum("EngineName", {"optuna": "optuna", "keras_tuner": "keras-tuner"}, type=str)  # type: ignore[misc]
LogFormat = Enum("LogFormat", {name: name for name in LOG_FORMATS}, type=str)  # type: ignore[misc]

StorageOption = Annotated[
    Optional[str],
    typer.Option(
        "--storage",
        help="SQLAlchemy URL of the store, e.g. postgresql+psycopg2://user:pw@host/db. "
        "Default: the SQLite file $FMNIST_SEARCH_HOME/studies.db (~/.local/share/fmnist-search/studies.db).",
        show_default=False,
    ),
]
VerboseOption = Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's own log output, and what caused an error.")]
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
    Optional[str],
    typer.Option(
        "--data-dir",
        envvar="FMNIST_DATA_DIR",
        help="Folder with the four Fashion-MNIST IDX files (.gz or not). Default: Debian's "
        "/usr/share/datasets/fashion-mnist, then the user cache, else a checksummed download.",
        show_default=False,
    ),
]


# What Ctrl-C leaves behind, said after "interrupted:" by the commands that run for long.
INTERRUPTED_STUDY = "running trials were recorded as failed and re-queued; start the study again to resume"
INTERRUPTED_EXPORT = "nothing was exported; an earlier export of this trial, if any, is unchanged"
INTERRUPTED = "stopped"


@contextmanager
def _user_errors(interrupted: str = INTERRUPTED, verbose: bool = False) -> Iterator[None]:
    """Bad input and unreachable services end in one line on stderr and exit code 1, never a traceback.

    ``verbose`` adds one line per chained cause. Ctrl-C ends in one line and exit code 130;
    ``interrupted`` says what it left behind.
    """
    try:
        yield
    except FmnistSearchError as error:
        report_error(str(error))
        if verbose:
            for cause in _causes(error):
                report_error(cause, label="caused by")
        raise typer.Exit(1) from None
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (search/runtime/interrupts.py): 130 or 143
        report_error(interrupted, label="interrupted")
        raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None
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
    """Hyperparameter search for Keras models on Fashion-MNIST: parallel Optuna workers, pruning, and every trial in a SQL store."""


@app.command()
def start(
    space: Annotated[
        Optional[str],
        typer.Option(
            "--space",
            help="Space to search: 'dense', 'cnn', or a path to your own .toml/.yaml space file "
            "(same format as spaces/dense.toml). Needed for a new study; a resumed one keeps its own.",
            show_default=False,
        ),
    ] = None,
    study: Annotated[Optional[str], typer.Option(help="Study name; default: the space's name. An existing name resumes that study.", show_default=False)] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes sharing the study.")] = 1,
    trials: Annotated[
        Optional[int],
        typer.Option(min=1, help="Stop when the whole study has this many finished (complete + pruned) trials. Failed trials do not count.", show_default=False),
    ] = None,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Bound the whole run to this many seconds: no trial starts after it, and a running trial stops at its next epoch end and is re-queued (its params run first next time).", show_default=False)] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Most epochs a trial trains (the pruner's resource). New studies: 15.", show_default=False)] = None,
    storage: StorageOption = None,
    subset: Annotated[Optional[int], typer.Option(min=10, help="Train on a stratified sample of this many train images, for quick runs (validation stays 5,000).", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, max=MAX_SEED, help="Seed for sampling and weight initialisation, 0 to 2**31 - 1; one worker with the same seed repeats a study. New studies: 0.", show_default=False)] = None,
    sampler: Annotated[
        Optional[SamplerName],
        typer.Option(help="How to pick the next params. New studies: tpe (multivariate, constant liar). gp needs PyTorch.", show_default=False),
    ] = None,
    pruner: Annotated[
        Optional[PrunerName],
        typer.Option(help="When to stop a bad trial early; epochs are the resource. New studies: hyperband.", show_default=False),
    ] = None,
    gpus: Annotated[
        Optional[str],
        typer.Option(help="GPUs to use, e.g. 0,1: worker i gets GPU i mod the number given; several workers may share one. Default: every GPU found (CUDA_VISIBLE_DEVICES, nvidia-smi), else the CPU cores split between workers.", show_default=False),
    ] = None,
    warm_start: Annotated[
        Optional[WarmStart],
        typer.Option(help="'seeds': first try the seed reports' models that fit the space (spaces/seeds.toml), so the search starts from the hand-tuned baselines.", show_default=False),
    ] = None,
    engine: Annotated[
        EngineName,
        typer.Option(
            help="Who searches. optuna: the workers above. keras-tuner: KerasTuner's Hyperband (factor 3, max "
            "--epochs) in this process, its trials written into the same store; --trials is the study-wide budget "
            "of finished trials, --timeout starts no trial after it (a running one stops at its next epoch and is "
            "not written), neither: one Hyperband iteration. --workers, --sampler, --pruner and --warm-start do "
            "not apply to it.",
        ),
    ] = EngineName.optuna,  # type: ignore[attr-defined]
    max_params: Annotated[
        int,
        typer.Option(min=1, help="Refuse a --space whose largest model (counted from the builders' layer shapes) has more parameters than this."),
    ] = DEFAULT_MAX_PARAMS,
    data_dir: DataDirOption = None,
    log_format: LogFormatOption = LogFormat.auto,  # type: ignore[attr-defined]
    verbose: VerboseOption = False,
) -> None:
    """Start a search, or resume one: trains Keras models on Fashion-MNIST, pruning bad trials early.

    On a terminal a live view shows the counts, the best trial, each worker and an ETA; in a log
    (nohup, docker compose logs, CI) one line per finished trial and a status line every minute.
    Example: fmnist-search start --space cnn --trials 50 --workers 4
    """
    with _user_errors(INTERRUPTED_STUDY, verbose):
        configure_logging(verbose)
        from search import api
        from search.runtime.devices import check_gpus, detect_gpus, parse_gpus

        try:
            gpu_ids = check_gpus(parse_gpus(gpus), detect_gpus()) if gpus is not None else None
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--gpus") from error
        api.run_study(
            space,
            study=study,
            workers=workers,
            trials=trials,
            timeout=timeout,
            epochs=epochs,
            storage=storage,
            subset=subset,
            seed=seed,
            sampler=sampler.value if sampler else None,
            pruner=pruner.value if pruner else None,
            data_dir=data_dir,
            verbose=verbose,
            gpus=gpu_ids,
            warm_start=warm_start.value if warm_start else None,
            engine=engine.value,
            max_params=max_params,
            log_format=log_format.value,
            console=console,
        )


@app.command()
def worker(
    study: Annotated[str, typer.Option(help="The study to join (made by `fmnist-search start`).")],
    storage: StorageOption = None,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Stop after this many seconds (an unfinished trial is re-queued).", show_default=False)] = None,
    data_dir: DataDirOption = None,
    log_format: LogFormatOption = LogFormat.auto,  # type: ignore[attr-defined]
    verbose: VerboseOption = False,
) -> None:
    """Join a running study from another terminal or machine: one worker, settings read from the store.

    The space, epochs, pruner, subset and budget come from the study, so nothing else is needed.
    The worker trains on the GPU CUDA_VISIBLE_DEVICES shows it (or the CPU).
    Example: CUDA_VISIBLE_DEVICES=1 fmnist-search worker --study cnn --storage postgresql+psycopg2://...
    """
    with _user_errors(INTERRUPTED_STUDY, verbose):
        configure_logging(verbose)
        from search.results.final import join_study

        join_study(console, study_name=study, storage_url=storage, timeout=timeout, data_dir=data_dir, verbose=verbose, log_format=log_format.value)


@app.command()
def status(
    study: Annotated[Optional[str], typer.Option(help="Show this study's best trials; default: one line per study in the store.", show_default=False)] = None,
    storage: StorageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Summarise what the store holds: each study's trials by state and its best validation accuracy.

    --json prints {"studies": [...]}, or with --study that study's summary and every finished trial.
    """
    with _user_errors():
        configure_logging()
        from search.results.final import show_status

        show_status(console, study, storage, as_json=as_json)


@app.command()
def dashboard(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on. The dashboard has no login: keep it on loopback and use an SSH tunnel.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")] = 8080,
    artifacts: Annotated[
        Optional[str],
        typer.Option(
            "--artifacts",
            envvar="FMNIST_ARTIFACTS",
            help="Folder of the trial files (learning curves). Default: 'artifacts' beside a SQLite store, else $FMNIST_SEARCH_HOME/artifacts.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Browse studies, trials, learning curves and notes in optuna-dashboard, during or after a search.

    Example: fmnist-search dashboard, then open http://127.0.0.1:8080/dashboard
    """
    with _user_errors():
        configure_logging()
        from search.results.final import serve_dashboard

        serve_dashboard(console, storage_url=storage, host=host, port=port, artifacts=artifacts)


@app.command()
def export(
    study: Annotated[Optional[str], typer.Option(help="The study whose best trial to export.", show_default=False)] = None,
    space: Annotated[Optional[str], typer.Option("--space", help="Shorthand for --study when the study is named after its space (e.g. cnn).", show_default=False)] = None,
    from_config: Annotated[
        Optional[str],
        typer.Option("--from-config", help="Retrain from a saved config.json alone, without the study.", show_default=False),
    ] = None,
    out: Annotated[Optional[str], typer.Option(help="Folder under which exports/<study>-<trial>/ is written. Default: the current directory.", show_default=False)] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Models to retrain, each with its own seed (config seed + i).")] = 3,
    storage: StorageOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Export the best trial: its config as JSON, and models retrained on all 60,000 training images.

    Each model trains for the epoch count at which the best trial peaked, and is saved as
    model-<i>.keras (raw uint8 pixels in). The test set is not read.
    Example: fmnist-search export --study cnn --repeats 3
    """
    with _user_errors(INTERRUPTED_EXPORT, verbose):
        configure_logging(verbose)
        from search import api

        if from_config is not None:  # retrain from the file alone: no study, so not the API's export_best
            from search.results.final import export_best

            export_best(
                console,
                study_name=study,
                space=space,
                from_config=from_config,
                out=out,
                repeats=repeats,
                storage_url=storage,
                data_dir=data_dir,
                verbose=verbose,
            )
            return
        if study is None:
            if space is None:
                raise ExportError("say which study to export (--study NAME, or --space NAME for a study named after its space)")
            study = api.load_space(space).name
        api.export_best(study, storage=storage, out=out or ".", repeats=repeats, data_dir=data_dir, verbose=verbose, console=console)


@app.command()
def evaluate(
    path: Annotated[str, typer.Argument(help="An export folder (made by `fmnist-search export`) or one .keras file.", show_default=False)],
    storage: StorageOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Final evaluation on the 10,000 sealed test images: report.json, confusion matrix, curves, summary.

    The only command that reads the test set. Example: fmnist-search evaluate exports/cnn-17
    """
    with _user_errors(verbose=verbose):
        configure_logging(verbose)
        from search import api

        api.evaluate(path, storage=storage, data_dir=data_dir, verbose=verbose, console=console)


@app.command()
def data(data_dir: DataDirOption = None) -> None:
    """Find (or download), check and cache Fashion-MNIST; print where it came from and how long loading took."""
    with _user_errors():
        from search.results.final import prepare_data

        prepare_data(console, data_dir)


@app.command()
def baselines(
    only: Annotated[
        Optional[str],
        typer.Option(help="Comma-separated seed ids to train (e.g. s000-dense,s004-cnn); default: all of spaces/seeds.toml.", show_default=False),
    ] = None,
    max_epochs: Annotated[
        Optional[int],
        typer.Option(min=1, help="Train no seed longer than this many epochs (for a quick look on a CPU); the leaderboard says which were capped.", show_default=False),
    ] = None,
    out: Annotated[Optional[str], typer.Option(help="Folder under which exports/baselines/<id>/ is written; default: the current folder.", show_default=False)] = None,
    storage: StorageOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Train the seed reports' models on the search's split, evaluate them on the test set, record them.

    Each model is trained with its report's own optimizer, batch size, epochs and early stopping,
    saved as a one-model export folder and evaluated by the same final evaluation as an exported
    best, so `fmnist-search leaderboard` compares like with like.
    """
    with _user_errors(verbose=verbose):
        configure_logging(verbose)
        from search.results.final import train_baselines

        ids = [part.strip() for part in only.split(",") if part.strip()] if only else None
        train_baselines(console, only=ids, max_epochs=max_epochs, out=out, storage_url=storage, data_dir=data_dir, verbose=verbose)


@app.command()
def leaderboard(
    storage: StorageOption = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table (as in the README) instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Seed baselines and searched bests side by side: validation and test accuracy, parameters, train time."""
    with _user_errors():
        configure_logging(False)
        from search.results.final import show_leaderboard

        show_leaderboard(console, storage_url=storage, markdown=markdown, as_json=as_json)


def main() -> None:
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
