"""The commands after (or beside) the search: export, evaluate, data, baselines, leaderboard."""

from __future__ import annotations

from typing import Annotated

import typer

from search.cli.app import INTERRUPTED_EXPORT, DataDirOption, JsonOption, StorageOption, VerboseOption, app, user_errors
from search.errors import ExportError
from search.runtime.quiet import configure_logging
from search.ui.console import console


@app.command()
def export(
    study: Annotated[str | None, typer.Option(help="The study whose best trial to export.", show_default=False)] = None,
    space: Annotated[
        str | None,
        typer.Option(
            "--space",
            help="Shorthand for --study when the study is named after its space (e.g. cnn).",
            show_default=False,
        ),
    ] = None,
    from_config: Annotated[
        str | None,
        typer.Option(
            "--from-config", help="Retrain from a saved config.json alone, without the study.", show_default=False
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            help="Folder under which exports/<study>-<trial>/ is written. Default: the current directory.",
            show_default=False,
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option(min=1, help="Models to retrain, each with its own seed (config seed + i).")
    ] = 3,
    storage: StorageOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Export the best trial: its config as JSON, and models retrained on all 60,000 training images.

    Each model trains for the epoch count at which the best trial peaked, and is saved as
    model-<i>.keras (raw uint8 pixels in). The test set is not read.
    Example: fmnist-search export --study cnn --repeats 3
    """
    with user_errors(INTERRUPTED_EXPORT, verbose):
        configure_logging(verbose)
        from search import api

        if from_config is not None:  # retrain from the file alone: no study, so not the API's export_best
            from search.results.final import export_best
            from search.ui.results_view import ConsoleResultsView

            folder = export_best(
                ConsoleResultsView(console),
                study_name=study,
                space=space,
                from_config=from_config,
                out=out,
                repeats=repeats,
                storage_url=storage,
                data_dir=data_dir,
                verbose=verbose,
            )
        else:
            if study is None:
                if space is None:
                    raise ExportError(
                        "say which study to export (--study NAME, or --space NAME for a study named after its space)"
                    )
                study = api.load_space(space).name
            folder = api.export_best(
                study,
                storage=storage,
                out=out or ".",
                repeats=repeats,
                data_dir=data_dir,
                verbose=verbose,
                console=console,
            )
        # The next step, as a command to copy (the Python API prints no commands).
        console.print(f"evaluate on the test set: fmnist-search evaluate {folder}", highlight=False, soft_wrap=True)


@app.command()
def evaluate(
    path: Annotated[
        str,
        typer.Argument(
            help="An export folder (made by `fmnist-search export`) or one .keras file.", show_default=False
        ),
    ],
    storage: StorageOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Final evaluation on the 10,000 sealed test images: report.json, confusion matrix, curves, summary.

    The only command that reads the test set. Example: fmnist-search evaluate exports/cnn-17
    """
    with user_errors(verbose=verbose):
        configure_logging(verbose)
        from search import api

        result = api.evaluate(path, storage=storage, data_dir=data_dir, verbose=verbose, console=console)
        if getattr(result, "shown_on", None):  # the command to see it (the Python API prints no commands)
            console.print("see it with its trial: fmnist-search dashboard", highlight=False, soft_wrap=True)


@app.command()
def data(data_dir: DataDirOption = None) -> None:
    """Find (or download), check and cache Fashion-MNIST; print where it came from and how long loading took.

    Example: fmnist-search data --data-dir /usr/share/datasets/fashion-mnist
    """
    with user_errors():
        from search.data.prepare import prepare_data

        prepare_data(lambda line: console.print(line, highlight=False), data_dir)


@app.command()
def baselines(
    only: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated seed ids to train (e.g. s000-dense,s004-cnn); default: all of spaces/seeds.toml.",
            show_default=False,
        ),
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=(
                "Train no seed longer than this many epochs (for a quick look on a CPU); the leaderboard says which "
                "were capped."
            ),
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            help="Folder under which exports/baselines/<id>/ is written; default: the current folder.",
            show_default=False,
        ),
    ] = None,
    storage: StorageOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Train the seed reports' models on the search's split, evaluate them on the test set, record them.

    Each model is trained with its report's own optimizer, batch size, epochs and early stopping,
    saved as a one-model export folder and evaluated by the same final evaluation as an exported
    best, so `fmnist-search leaderboard` compares like with like.

    Example: fmnist-search baselines --only s000-dense --max-epochs 2
    """
    with user_errors(verbose=verbose):
        configure_logging(verbose)
        from search.results.final import train_baselines
        from search.ui.results_view import ConsoleResultsView

        ids = [part.strip() for part in only.split(",") if part.strip()] if only else None
        view = ConsoleResultsView(console)
        train_baselines(
            view, only=ids, max_epochs=max_epochs, out=out, storage_url=storage, data_dir=data_dir, verbose=verbose
        )


@app.command()
def leaderboard(
    storage: StorageOption = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (as in the README) instead.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Seed baselines and searched bests side by side: validation and test accuracy (in %), parameters, train time.

    A table that does not fit the width lists its notes under it. --json keeps accuracies as fractions.

    Example: fmnist-search leaderboard --markdown > LEADERBOARD.md
    """
    with user_errors():
        configure_logging(False)
        from search.ui.leaderboard import show_leaderboard

        show_leaderboard(console, storage_url=storage, markdown=markdown, as_json=as_json)
