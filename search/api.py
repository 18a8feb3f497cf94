"""The Python API: search, export and evaluate from a script or a notebook, as the CLI does.

The CLI's ``start``, ``export`` and ``evaluate`` call these functions, so both behave the same:
the same checks (one ``error:`` line there, the typed exception here: one of
``search.errors.USER_ERRORS``), the same store, files and dashboard entries. Warnings go to the
``fmnist_search`` logger (search/notices.py): one line on stderr each, unless a handler of your
own is attached to it first.

    import search
    study = search.run_study("dense", n_trials=20, epochs=5, subset=5000)  # run again: 20 more
    print(study.best_value, study.best_params)
    print(study.trials_dataframe()[["number", "value", "state"]])
    folder = search.export_best(study, repeats=2)
    print(search.evaluate(folder).test_accuracy)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spaces.model_size import DEFAULT_MAX_PARAMS

if TYPE_CHECKING:
    import optuna
    from rich.console import Console

    from search.results.evaluation import Evaluation
    from spaces.space import Space


def run_study(
    space: str | os.PathLike[str] | None = None,
    *,
    study: str | None = None,
    trials: int | None = None,
    n_trials: int | None = None,
    workers: int = 1,
    epochs: int | None = 15,
    subset: int | None = None,
    storage: str | None = None,
    seed: int | None = 0,
    sampler: str | None = None,
    pruner: str | None = "hyperband",
    timeout: float | None = None,
    gpus: list[str] | None = None,
    warm_start: str | None = None,
    engine: str = "optuna",
    max_params: int = DEFAULT_MAX_PARAMS,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    log_format: str = "auto",
    console: Console | None = None,
    quiet: bool = False,
) -> optuna.Study:
    """Create (or resume) a study and run it until its trial budget is reached or ``timeout`` seconds pass.

    ``space``: "dense", "cnn" or a space file; ``study`` defaults to the space's name, and an
    existing name resumes that study (same space, epochs, pruner and subset, or it is refused).
    ``epochs``, ``seed``, ``sampler`` and ``pruner`` set to None keep a resumed study's own values
    (or take the defaults shown for a new one; the sampler's is "prior"). ``storage``: a
    SQLAlchemy URL; default the SQLite file in $FMNIST_SEARCH_HOME.

    The budget counts finished (complete and pruned) trials of the whole study, across all its
    workers and machines, and is stored with it. Give one of:

    - ``n_trials``: run this many more, as Optuna's ``study.optimize(n_trials=...)``: the study's
      budget becomes the trials finished when this call starts plus ``n_trials``, so calling twice
      with ``n_trials=3`` runs 3 trials each time;
    - ``trials``: the study-wide total, as the CLI's ``start --trials``: a study that already has
      that many runs nothing more;
    - neither: a new study runs until ``timeout`` (or Ctrl-C); a resumed one keeps its budget.

    Progress goes to ``console`` (default: stdout), as the live view or log lines (``log_format``);
    ``quiet=True`` shows nothing at all (no progress, no lines, no warnings): the returned study
    says what happened. Nothing printed names a CLI command.

    Returns the Optuna study, read back from the store: ``study.best_trial``,
    ``study.trials_dataframe()`` (its objective column is ``value``, as in Optuna) and the rest of
    Optuna's API work on it.
    """
    from search.engines.launch import start_study
    from search.errors import StudyError
    from search.runtime.quiet import configure_logging
    from search.ui.console import console as default_console
    from search.ui.console import show_notices, silenced
    from search.ui.run_view import ConsoleRunView, SilentRunView

    if trials is not None and n_trials is not None:
        raise StudyError(
            "give trials (the study-wide total) or n_trials (more in this call), not both, "
            f"but got {trials=} and {n_trials=}"
        )
    if n_trials is not None and n_trials < 1:
        raise StudyError(f"n_trials must be at least 1, but got {n_trials=}")
    view = SilentRunView() if quiet else ConsoleRunView(console or default_console, log_format)
    configure_logging(verbose)
    if not quiet:
        show_notices(replace=False)
    with silenced(quiet):
        study_run = start_study(
            view,
            space=None if space is None else os.fspath(space),
            study_name=study,
            workers=workers,
            n_trials=trials,
            more_trials=n_trials,
            timeout=timeout,
            max_epochs=epochs,
            storage_url=storage,
            subset=subset,
            seed=seed,
            sampler=sampler,
            pruner=pruner,
            data_dir=None if data_dir is None else os.fspath(data_dir),
            verbose=verbose,
            gpus=gpus,
            warm_start=warm_start,
            engine=engine,
            max_params=max_params,
        )
    return plain_value_study(study_run)


def export_best(
    study: optuna.Study | str,
    *,
    storage: str | None = None,
    out: str | os.PathLike[str] = ".",
    repeats: int = 3,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    console: Console | None = None,
    quiet: bool = False,
) -> Path:
    """Retrain the best trial of ``study`` (an Optuna study or its name) ``repeats`` times on all
    60,000 training images; write ``config.json`` and ``model-<i>.keras`` into
    ``<out>/exports/<study>-<trial>/`` and return that folder. The test set is not read.

    ``storage`` defaults to the study's own store (a study object) or the default SQLite file.
    ``quiet=True`` shows nothing (no lines, no progress bar).
    """
    from search.results.final import export_best as export_command
    from search.runtime.quiet import configure_logging
    from search.ui.console import console as default_console
    from search.ui.console import silenced
    from search.ui.results_view import ConsoleResultsView, SilentResultsView

    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, but got {repeats=}")
    configure_logging(verbose)
    name = study if isinstance(study, str) else study.study_name
    with silenced(quiet):
        return export_command(
            SilentResultsView() if quiet else ConsoleResultsView(console or default_console),
            study_name=name,
            space=None,
            from_config=None,
            out=os.fspath(out),
            repeats=repeats,
            storage_url=storage if storage is not None else _storage_url(study),
            data_dir=None if data_dir is None else os.fspath(data_dir),
            verbose=verbose,
        )


def evaluate(
    path: str | os.PathLike[str],
    *,
    storage: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    console: Console | None = None,
    quiet: bool = False,
) -> Evaluation:
    """The final evaluation of an export folder (or one ``.keras`` file) on the 10,000 test images.

    Writes ``report.json``, the confusion matrix, the learning curves and ``summary.md`` into the
    folder, shows them with the exported trial in the dashboard when its study is in the store,
    and returns the evaluation: ``.test_accuracy`` (mean over the models, a fraction), ``.report``
    (everything in report.json), ``.folder``. ``quiet=True`` shows nothing.
    """
    from search.results.final import evaluate_export
    from search.runtime.quiet import configure_logging
    from search.ui.console import console as default_console
    from search.ui.console import silenced
    from search.ui.results_view import ConsoleResultsView, SilentResultsView

    configure_logging(verbose)
    with silenced(quiet):
        return evaluate_export(
            SilentResultsView() if quiet else ConsoleResultsView(console or default_console),
            path=os.fspath(path),
            storage_url=storage,
            data_dir=None if data_dir is None else os.fspath(data_dir),
            verbose=verbose,
        )


def load_space(name_or_path: str | os.PathLike[str]) -> Space:
    """A built-in space ("dense", "cnn") or a ``.toml``/``.yaml`` space file, checked."""
    from spaces.space import load_space as load

    return load(os.fspath(name_or_path))


def plain_value_study(study: optuna.Study) -> optuna.Study:
    """``study`` as an Optuna user expects it: ``trials_dataframe()`` names the objective's column
    ``value``. The store names the metric ``val_accuracy`` for the dashboard, which would make it
    ``value_val_accuracy``; nothing is written back."""
    return _plain_value_study_class()(study_name=study.study_name, storage=study._storage)


@functools.cache
def _plain_value_study_class() -> type[optuna.Study]:
    """Built on first use: ``import search`` does not import Optuna."""
    import optuna

    class PlainValueStudy(optuna.Study):
        """An ``optuna.Study`` whose ``trials_dataframe()`` has a plain ``value`` column."""

        def trials_dataframe(self, *args: Any, **kwargs: Any) -> Any:
            frame = super().trials_dataframe(*args, **kwargs)
            names = self.metric_names
            if not names or len(names) != 1:
                return frame
            if frame.columns.nlevels == 1:
                return frame.rename(columns={f"value_{names[0]}": "value"})
            frame.columns = frame.columns.map(lambda c: ("value", "") if c == ("value", names[0]) else c)
            return frame

    return PlainValueStudy


def _storage_url(study: optuna.Study | str) -> str | None:
    """The URL of the store a study object was loaded from; None (the default store) for a name."""
    if isinstance(study, str):
        return None
    # Optuna wraps the RDB storage in a cache (_CachedStorage) and keeps no public URL.
    storage = study._storage
    backend = getattr(storage, "_backend", storage)
    url = getattr(backend, "url", None)
    return url if isinstance(url, str) else None
