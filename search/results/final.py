"""The final steps: export the best trial (retrained on all 60,000 images), evaluate it once on the test set;
train the seed baselines and evaluate them the same way.

``export``, ``evaluate`` and ``baselines`` (and the Python API's ``export_best`` and ``evaluate``)
come here; an evaluation of an export whose study is in the store also shows in the dashboard.
What is said to people, and the epoch bars of long training, go through the caller's
``ResultsView`` (search/results/view.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from search.data import loader as fmnist_data
from search.engines.record import history_of
from search.errors import ExportError
from search.results import baselines
from search.results.view import percent_of
from search.study.settings import open_study
from spaces.seeds import SeedModel
from spaces.space import load_space
from storage import open_storage, resolve_url
from storage.exports import ExportLog

if TYPE_CHECKING:
    from search.results.evaluation import Evaluation
    from search.results.view import ResultsView


def export_best(
    view: ResultsView,
    *,
    study_name: str | None,
    space: str | None,
    from_config: str | None,
    out: str | None,
    repeats: int,
    storage_url: str | None,
    data_dir: str | None,
    verbose: bool,
) -> Path:
    """Write the best trial's config and retrain it ``repeats`` times on all 60,000 images; record the export.

    Returns the export folder."""
    from search.results import export

    url = resolve_url(storage_url, must_exist=from_config is None)
    if from_config is not None:
        if study_name is not None or space is not None:
            raise ExportError("--from-config retrains from the file alone; leave out --study and --space")
        config_path = Path(from_config)
        config = export.read_config(config_path)
        history = export.history_beside(config_path)
    else:
        if study_name is None:
            if space is None:
                raise ExportError(
                    "say which study to export (--study NAME, or --space NAME for a study named after its space)"
                )
            study_name = load_space(space).name
        study, settings = open_study(open_storage(url, must_exist=True), study_name)
        trial = export.best_trial(study)
        config = export.config_from_trial(study_name, settings, trial)
        history = history_of(trial) or None
    fmnist_data.load_part("train", data_dir)  # corrupt or missing data fails before anything is written
    folder = export.default_folder(config, out)
    view.say(
        f"exporting {config.study or 'config'} trial {config.trial_number}: {config.model} model, "
        f"{config.epochs} epochs on all 60,000 training images, {repeats} repeat(s), into {folder}"
    )
    from search.runtime.quiet import import_keras

    import_keras(verbose)
    with view.epochs(f"retraining model 1 of {repeats}", repeats * config.epochs) as bar:

        def on_epoch(repeat: int, done: int) -> None:
            bar.update(repeat * config.epochs + done, f"retraining model {repeat + 1} of {repeats}")

        files = export.write_export(config, folder, repeats, data_dir, history, on_epoch)
    where = str(folder.resolve())
    _record(url, lambda log: log.record_export(config.study, config.trial_number, config.config_hash, where, files))
    view.say(f"wrote {', '.join(files)}; config hash {config.config_hash[:12]}")
    return folder


def evaluate_export(
    view: ResultsView, *, path: str, storage_url: str | None, data_dir: str | None, verbose: bool
) -> Evaluation:
    """Evaluate an export on the sealed test set, write its report files, show them with its trial in the dashboard."""
    from search.results import evaluation as evaluate
    from search.results.trial_evaluation import attach_to_trial
    from search.runtime.quiet import import_keras

    url = resolve_url(storage_url)
    evaluate.checked_export(Path(path))  # not an export, or models it did not write: fail before importing Keras
    import_keras(verbose)
    result = evaluate.evaluate(Path(path), data_dir)
    accuracy = result.report["test_accuracy"]
    trial_label = attach_to_trial(url, result)
    if trial_label:
        view.say(f"attached the confusion matrix and the summary to {trial_label}, in the dashboard")
    view.say(
        f"test accuracy {percent_of(accuracy['mean'], accuracy['std'])} over {len(result.report['models'])} model(s); "
        f"report in {result.folder / evaluate.REPORT_FILE}"
    )
    return replace(result, shown_on=trial_label)


def _record(url: str, write: Callable[[ExportLog], None]) -> None:
    log = ExportLog(url)
    try:
        write(log)
    finally:
        log.close()


def train_baselines(
    view: ResultsView,
    *,
    only: list[str] | None,
    max_epochs: int | None,
    out: str | None,
    storage_url: str | None,
    data_dir: str | None,
    verbose: bool,
) -> None:
    """Train each seed model on the search's split, evaluate it like an export, record it."""
    from search.runtime.quiet import import_keras
    from spaces.seeds import load_seeds, select_seeds

    chosen = select_seeds(load_seeds(), only)
    url = resolve_url(storage_url)
    ExportLog(url).close()  # an unreachable store fails before hours of training, not after
    data = fmnist_data.load_train_val(data_dir)
    fmnist_data.locate("test", data_dir)  # a missing test file fails now, not after the training
    import_keras(verbose)
    for seed in chosen:
        _train_one_baseline(view, seed, data, max_epochs, out, url, data_dir)
    view.say("compare with the searched bests: fmnist-search leaderboard")


def _train_one_baseline(
    view: ResultsView,
    seed: SeedModel,
    data: fmnist_data.TrainValData,
    max_epochs: int | None,
    out: str | None,
    url: str,
    data_dir: str | None,
) -> None:
    """Train, save, evaluate and record one seed model, with a progress bar over its epochs."""
    from search.results import evaluation as evaluate

    with view.epochs(f"{seed.id} ({seed.model})", baselines.planned_epochs(seed, max_epochs)) as bar:
        model, run = baselines.train_seed(seed, data, max_epochs, lambda done, _: bar.update(done))
    folder = baselines.baseline_folder(seed, out)
    baselines.write_baseline(seed, run, model, folder)
    test = evaluate.evaluate(folder, data_dir).report["test_accuracy"]["mean"]
    facts = {
        "epochs_run": run.epochs_run,
        "epochs_cap": run.epochs_cap,
        "validation_accuracy": run.validation_accuracy,
        "test_accuracy": test,
    }
    size = {"param_count": run.param_count, "train_seconds": run.train_seconds, "folder": str(folder.resolve())}
    _record(url, lambda log: log.record_baseline(seed_id=seed.id, model=seed.model, **facts, **size))
    capped = f" (capped from {seed.training.epochs})" if run.epochs_cap else ""
    view.say(
        f"{seed.id}: val {percent_of(run.validation_accuracy)}, test {percent_of(test)}, {run.param_count:,} params, "
        f"{run.epochs_run} epochs{capped} in {run.train_seconds:.0f} s; files in {folder}"
    )
