"""The commands that run and watch a study: start, worker, status, dashboard."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from search.cli.app import (
    INTERRUPTED_KERAS_TUNER,
    INTERRUPTED_STUDY,
    DataDirOption,
    JsonOption,
    LogFormat,
    LogFormatOption,
    StorageOption,
    VerboseOption,
    app,
    user_errors,
)
from search.runtime.quiet import configure_logging

# Plain constants: search.study.settings would import Optuna and SQLAlchemy (a second) before
# --help or --version could answer.
from search.study.options import MAX_SEED, PRUNERS, SAMPLERS, WARM_STARTS
from search.ui.console import console
from spaces.model_size import DEFAULT_MAX_PARAMS

SamplerName = Enum("SamplerName", {name: name for name in SAMPLERS}, type=str)  # type: ignore[misc]
PrunerName = Enum("PrunerName", {name: name for name in PRUNERS}, type=str)  # type: ignore[misc]
WarmStart = Enum("WarmStart", {name: name for name in WARM_STARTS}, type=str)  # type: ignore[misc]
EngineName = Enum("EngineName", {"optuna": "optuna", "keras_tuner": "keras-tuner"}, type=str)  # type: ignore[misc]


@app.command()
def start(
    space: Annotated[
        str | None,
        typer.Option(
            "--space",
            help="Space to search: 'dense', 'cnn', or a path to your own .toml/.yaml space file "
            "(same format as spaces/dense.toml). Needed for a new study; a resumed one keeps its own.",
            show_default=False,
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            help="Study name; default: the space's name. An existing name resumes that study.", show_default=False
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes sharing the study.")] = 1,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=(
                "Stop when the whole study has this many finished (complete + pruned) trials. Failed trials do not "
                "count."
            ),
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=1,
            help=(
                "Bound the whole run to this many seconds: no trial starts after it, and a running trial stops at its "
                "next epoch end and is re-queued (its params run first next time)."
            ),
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1, help="Most epochs a trial trains (the pruner's resource). New studies: 15.", show_default=False
        ),
    ] = None,
    storage: StorageOption = None,
    subset: Annotated[
        int | None,
        typer.Option(
            min=10,
            help="Train on a stratified sample of this many train images, for quick runs (validation stays 5,000).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_SEED,
            help=(
                "Seed for sampling and weight initialisation, 0 to 2**31 - 1; one worker with the same seed repeats a "
                "study. New studies: 0."
            ),
            show_default=False,
        ),
    ] = None,
    sampler: Annotated[
        SamplerName | None,
        typer.Option(
            help=(
                "How to pick the next params. New studies: prior (start-up near the defaults and known-good points, "
                "steps from the best, TPE). gp needs PyTorch."
            ),
            show_default=False,
        ),
    ] = None,
    pruner: Annotated[
        PrunerName | None,
        typer.Option(
            help="When to stop a bad trial early; epochs are the resource. New studies: hyperband.", show_default=False
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(
            help=(
                "GPUs to use, e.g. 0,1: worker i gets GPU i mod the number given; several workers may share one. "
                "Default: every GPU found (CUDA_VISIBLE_DEVICES, nvidia-smi), else the CPU cores split between workers."
            ),
            show_default=False,
        ),
    ] = None,
    warm_start: Annotated[
        WarmStart | None,
        typer.Option(
            help=(
                "What a new study tries first. defaults (the default): the family's default model (cheap and sound: "
                "Hyperband trains the first trial of each bracket in full, so a random first draw could cost minutes "
                "before anything else runs). seeds: also the seed reports' models that fit the space "
                "(spaces/seeds.toml), the hand-tuned baselines. none: the sampler from the first trial."
            ),
            show_default=False,
        ),
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
        typer.Option(
            min=1,
            help=(
                "Refuse a --space whose largest model (counted from the builders' layer shapes) has more parameters "
                "than this."
            ),
        ),
    ] = DEFAULT_MAX_PARAMS,
    data_dir: DataDirOption = None,
    log_format: LogFormatOption = LogFormat.auto,  # type: ignore[attr-defined]
    verbose: VerboseOption = False,
) -> None:
    """Start a search, or resume one: trains Keras models on Fashion-MNIST, pruning bad trials early.

    On a terminal a live view shows the counts, the best trial, each worker and an ETA; in a log
    (nohup, docker compose logs, CI) one line per finished trial and a status line every minute.
    Workers train under TensorFlow where it is installed, else JAX; KERAS_BACKEND=tensorflow|jax|torch
    pins the backend.
    Example: fmnist-search start --space cnn --trials 50 --workers 4
    """
    interrupted = INTERRUPTED_KERAS_TUNER if engine.value == "keras-tuner" else INTERRUPTED_STUDY
    with user_errors(interrupted, verbose):
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
        name = study if study is not None else api.load_space(space).name  # type: ignore[arg-type]
        _say_where_to_look(name, storage, log_format.value)


def _say_where_to_look(study_name: str, storage: str | None, log_format: str) -> None:
    """The command that lists the study's trials, after a run (the Python API prints no commands)."""
    from search.ui.run_view import ConsoleRunView
    from storage import redact, resolve_url

    # The password stays out of the terminal (and nohup and container logs): the user has it already.
    storage_flag = f" --storage '{redact(resolve_url(storage))}'" if storage else ""
    ConsoleRunView(console, log_format).say(
        f"\nsee all trials: fmnist-search status --study {study_name}{storage_flag}"
    )


@app.command()
def worker(
    study: Annotated[str, typer.Option(help="The study to join (made by `fmnist-search start`).")],
    storage: StorageOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=1, help="Stop after this many seconds (an unfinished trial is re-queued).", show_default=False
        ),
    ] = None,
    data_dir: DataDirOption = None,
    log_format: LogFormatOption = LogFormat.auto,  # type: ignore[attr-defined]
    verbose: VerboseOption = False,
) -> None:
    """Join a running study from another terminal or machine: one worker, settings read from the store.

    The space, epochs, pruner, subset and budget come from the study, so nothing else is needed.
    The worker trains on the GPU CUDA_VISIBLE_DEVICES shows it (or the CPU).
    Example: CUDA_VISIBLE_DEVICES=1 fmnist-search worker --study cnn --storage postgresql+psycopg2://...
    """
    with user_errors(INTERRUPTED_STUDY, verbose):
        configure_logging(verbose)
        from search.engines.launch import join_study
        from search.ui.run_view import ConsoleRunView

        view = ConsoleRunView(console, log_format.value)
        join_study(view, study_name=study, storage_url=storage, timeout=timeout, data_dir=data_dir, verbose=verbose)


@app.command()
def status(
    study: Annotated[
        str | None,
        typer.Option(help="Show this study's trials; default: one line per study in the store.", show_default=False),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="With --study: list every trial, not only the best 10 finished ones.")
    ] = False,
    storage: StorageOption = None,
    as_json: JsonOption = False,
) -> None:
    """Summarise what the store holds: each study's trials by state and its best validation accuracy (in %).

    With --study: its best finished trials, then every trial running or waiting to run (again).
    --json prints {"studies": [...]}, or with --study that study's summary and every finished trial;
    accuracies there are fractions (0.8766), as stored.

    Example: fmnist-search status --study cnn --all
    """
    with user_errors():
        configure_logging()
        from search.ui.status import show_status

        show_status(console, study, storage, as_json=as_json, show_all=show_all)


@app.command()
def dashboard(
    storage: StorageOption = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. The dashboard has no login: keep it on loopback and use an SSH tunnel."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")] = 8080,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Folder of the trial files (learning curves). Default: $FMNIST_ARTIFACTS, else 'artifacts' "
            "beside a SQLite store, else the database itself.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Browse studies, trials, learning curves and notes in optuna-dashboard, during or after a search.

    Example: fmnist-search dashboard, then open http://127.0.0.1:8080/dashboard
    """
    with user_errors():
        configure_logging()
        from search.ui.dashboard import run_dashboard

        run_dashboard(console, storage_url=storage, host=host, port=port, artifacts=artifacts)
