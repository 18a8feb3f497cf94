"""What each CLI command does, apart from option parsing: one function per command."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from search.data import loader as fmnist_data
from search.runtime.devices import detect_gpus
from search.ui.progress import finished_trials, params_table, studies_table, study_summary, take_snapshot, trials_table
from search.ui.display import LOG_FORMATS
from search.engines.runner import run_study
from search.ui.console import report_error
from search.study.settings import StudyError, StudySettings, count_finished, enqueue_warm_start, open_study, start_or_resume
from search.study.names import StudyNameError, check_study_name
from search.engines.optuna.worker import WorkerJob
from spaces.model_size import DEFAULT_MAX_PARAMS, check_model_size, largest_model
from spaces.seeds import SeedModel
from spaces.space import load_space
from storage import StorageError, open_storage, redact, resolve_url
from storage.exports import ExportLog
from storage.schema import require_store

if TYPE_CHECKING:
    from search.results.evaluation import Evaluation


def start_study(
    console: Console,
    *,
    space: str | None,
    study_name: str | None,
    workers: int,
    n_trials: int | None,
    timeout: float | None,
    max_epochs: int | None,
    storage_url: str | None,
    subset: int | None,
    seed: int | None,
    sampler: str | None,
    pruner: str | None,
    data_dir: str | None,
    verbose: bool,
    gpus: list[str] | None = None,
    warm_start: str | None = None,
    engine: str = "optuna",
    max_params: int = DEFAULT_MAX_PARAMS,
    log_format: str = "auto",
) -> optuna.Study:
    """Create or resume a study, then run its workers (or KerasTuner) until the budget or the timeout; return it.

    With ``log_format="json"`` stdout carries only the run's JSON lines: what is said to people
    goes to stderr.
    """
    from search.engines.keras_tuner.engine import check_engine_options

    log = console
    console = _people(console, log_format)

    check_engine_options(engine, workers=workers, sampler=sampler, pruner=pruner, warm_start=warm_start)
    if warm_start not in (None, "seeds"):
        raise StudyError(f"--warm-start takes 'seeds' (the seed reports' models), but got {warm_start!r}")
    if space is None and study_name is None:
        raise StudyError("say which space to search (--space dense|cnn|FILE) or which study to resume (--study NAME)")
    # Check the space and the data before anything is written: bad input leaves no empty study behind.
    if space is not None:
        loaded = load_space(space)
        check_model_size(loaded, max_params)  # a monster space is refused before anything trains
        if study_name is None:
            study_name = check_study_name(loaded.name, hint="; the space's name is the default, so give --study NAME")
    check_study_name(study_name)
    fmnist_data.load_train_val(data_dir, subset)  # parses (and caches) now: corrupt files fail here
    url = resolve_url(storage_url)
    storage = open_storage(url)
    settings, resumed = start_or_resume(
        storage, study_name, space=space, max_epochs=max_epochs, sampler=sampler, pruner=pruner, seed=seed, subset=subset, n_trials=n_trials
    )
    if engine == "optuna":
        workers = _capped_workers(storage, study_name, settings, workers)
    verb = "resuming" if resumed else "starting"
    searcher = "KerasTuner Hyperband" if engine == "keras-tuner" else f"{settings.sampler} + {settings.pruner}"
    console.print(
        f"[bold]{verb}[/] study [cyan]{study_name}[/]: space {settings.space.name!r} ({settings.space.model}), "
        f"{searcher}, up to {settings.max_epochs} epochs a trial, "
        f"{workers} worker{'s' if workers > 1 else ''}, store {redact(url)}",
        highlight=False,
        soft_wrap=True,  # one line in a log, whatever the width
    )
    if warm_start == "seeds":
        enqueued, skipped = enqueue_warm_start(optuna.load_study(study_name=study_name, storage=storage), settings.space)
        console.print(f"warm start: {len(enqueued)} seed model(s) first: {', '.join(enqueued) or 'none fits this space'}", highlight=False)
        for reason in skipped:
            console.print(f"  not enqueued: {reason}", style="dim", highlight=False)
    deadline = time.time() + timeout if timeout else None
    job = WorkerJob(storage_url=url, study_name=study_name, deadline=deadline, data_dir=data_dir, verbose=verbose)
    run_study(job, settings, workers, gpus if gpus is not None else detect_gpus(), log, engine_name=engine, log_format=log_format)
    # The password stays out of the terminal (and nohup and container logs): the user has it already.
    storage_flag = f" --storage '{redact(url)}'" if storage_url else ""
    console.print(f"\nsee all trials: fmnist-search status --study {study_name}{storage_flag}", highlight=False, soft_wrap=True)
    return optuna.load_study(study_name=study_name, storage=storage)


def _people(console: Console, log_format: str) -> Console:
    """Where to say things to people: stderr when stdout is a stream of JSON lines."""
    from search.ui.console import errors

    if log_format not in LOG_FORMATS:
        raise StudyError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, but got {log_format!r}")
    return errors if log_format == "json" else console


def _capped_workers(storage: optuna.storages.BaseStorage, study_name: str, settings: StudySettings, workers: int) -> int:
    """Never more worker processes than trials left to run, nor than memory holds; say so in one line."""
    from search.runtime import worker_cap

    if workers == 1:
        return 1
    left = None if settings.n_trials is None else settings.n_trials - count_finished(optuna.load_study(study_name=study_name, storage=storage))
    footprint = worker_cap.worker_footprint(largest_model(settings.space)[0])
    capped, warning = worker_cap.cap_workers(workers, left, worker_cap.available_memory_bytes(), footprint)
    if warning:
        report_error(warning, label="warning")
    return capped


def join_study(
    console: Console, *, study_name: str, storage_url: str | None, timeout: float | None, data_dir: str | None, verbose: bool, log_format: str = "auto"
) -> None:
    """Run one worker on an existing study, with the settings saved in the store."""
    log = console
    console = _people(console, log_format)
    url = resolve_url(storage_url, must_exist=True)
    _, settings = open_study(open_storage(url, must_exist=True), study_name)
    fmnist_data.load_train_val(data_dir, settings.subset)
    # Workers started by `start` are 0..N-1; a joining one needs its own id, hence its own sampler
    # seed, or it would draw the same random start-up trials as worker 0.
    worker_id = 1000 + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000
    console.print(f"[bold]joining[/] study [cyan]{study_name}[/] at {redact(url)} as worker {worker_id}", highlight=False, soft_wrap=True)
    deadline = time.time() + timeout if timeout else None
    job = WorkerJob(storage_url=url, study_name=study_name, worker_id=worker_id, deadline=deadline, data_dir=data_dir, verbose=verbose)
    run_study(job, settings, workers=1, gpus=[], console=log, log_format=log_format)  # gpus=[]: keep the CUDA_VISIBLE_DEVICES given


def show_status(console: Console, study_name: str | None, storage_url: str | None, as_json: bool = False) -> None:
    """One line per study, or the best trials of one study; as JSON for scripts."""
    storage = open_storage(storage_url, must_exist=True)
    if study_name is not None:
        study, settings = open_study(storage, study_name)
        snapshot = take_snapshot(study, settings)
        if as_json:
            _print_json(console, {**study_summary(study_name, snapshot), "trials": finished_trials(study)})
            return
        console.print(studies_table([(study_name, snapshot)]))
        console.print(trials_table(study))
        if snapshot.best_value is not None:
            console.print(params_table(f"params of the best trial ({snapshot.best_number})", snapshot.best_params))
        return
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        try:
            study, settings = open_study(storage, summary.study_name)
            rows.append((summary.study_name, take_snapshot(study, settings)))
        except (StudyError, StudyNameError):  # made by something else than fmnist-search
            rows.append((summary.study_name, None))
    if as_json:
        _print_json(console, {"studies": [study_summary(name, snapshot) for name, snapshot in rows]})
        return
    if not rows:
        console.print("the store holds no study yet; start one with: fmnist-search start --space dense")
        return
    console.print(studies_table(rows))


def _print_json(console: Console, data: object) -> None:
    """JSON on stdout, unwrapped and uncoloured, whatever the terminal's width."""
    console.out(json.dumps(data, indent=2), highlight=False)


def serve_dashboard(console: Console, *, storage_url: str | None, host: str, port: int, artifacts: str | None) -> None:
    """Serve optuna-dashboard on the store until Ctrl-C; print where to open it."""
    from search.ui import dashboard

    def ready(served: dashboard.Dashboard) -> None:
        if served.warning:
            report_error(served.warning, label="warning")
        console.print(
            f"dashboard of {redact(served.storage_url)} (trial files in {served.artifacts})\n"
            f"open [bold]{served.url}[/] in your browser; Ctrl-C stops it",
            highlight=False,
        )

    dashboard.serve_dashboard(storage_url, host, port, artifacts, ready)
    console.print("dashboard stopped")


def prepare_data(console: Console, data_dir: str | None) -> None:
    """Locate (or download) and parse the training and test files, warming the array cache."""
    for part in ("train", "test"):
        directory = fmnist_data.locate(part, data_dir)
        started = time.perf_counter()
        images, labels = fmnist_data.load_part(part, data_dir)
        seconds = time.perf_counter() - started
        console.print(f"{part}: {len(images):,} images from {directory} (loaded in {seconds:.2f} s)", highlight=False)
    split = fmnist_data.load_train_val(data_dir)
    console.print(f"split: {len(split.x_train):,} train / {len(split.x_val):,} validation; the test images stay sealed", highlight=False)


def _epoch_progress(console: Console) -> Progress:
    """A progress bar counted in epochs, for long training outside a study (export, baselines)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"), TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True)


def export_best(
    console: Console,
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
            raise export.ExportError("--from-config retrains from the file alone; leave out --study and --space")
        config_path = Path(from_config)
        config = export.read_config(config_path)
        history = export.history_beside(config_path)
    else:
        if study_name is None:
            if space is None:
                raise export.ExportError("say which study to export (--study NAME, or --space NAME for a study named after its space)")
            study_name = load_space(space).name
        study, settings = open_study(open_storage(url, must_exist=True), study_name)
        trial = export.best_trial(study)
        config = export.config_from_trial(study_name, settings, trial)
        history = trial.user_attrs.get("history")
    fmnist_data.load_part("train", data_dir)  # corrupt or missing data fails before anything is written
    folder = export.default_folder(config, out)
    console.print(
        f"exporting {config.study or 'config'} trial {config.trial_number}: {config.model} model, "
        f"{config.epochs} epochs on all 60,000 training images, {repeats} repeat(s), into {folder}",
        highlight=False,
    )
    from search.runtime.quiet import import_keras

    import_keras(verbose)
    with _epoch_progress(console) as progress:
        task = progress.add_task(f"retraining model 1 of {repeats}", total=repeats * config.epochs)

        def on_epoch(repeat: int, done: int) -> None:
            progress.update(task, completed=repeat * config.epochs + done, description=f"retraining model {repeat + 1} of {repeats}")

        files = export.write_export(config, folder, repeats, data_dir, history, on_epoch)
    _record(url, lambda log: log.record_export(config.study, config.trial_number, config.config_hash, str(folder.resolve()), files))
    console.print(f"wrote {', '.join(files)}; config hash {config.config_hash[:12]}", highlight=False)
    console.print(f"evaluate on the test set: fmnist-search evaluate {folder}", highlight=False)
    return folder


def evaluate_export(console: Console, *, path: str, storage_url: str | None, data_dir: str | None, verbose: bool) -> Evaluation:
    """Evaluate an export on the sealed test set, write its report files and record the evaluation."""
    from search.results import evaluation as evaluate
    from search.runtime.quiet import import_keras

    url = resolve_url(storage_url)
    evaluate.find_models(Path(path))  # not an export: fail before importing Keras
    import_keras(verbose)
    result = evaluate.evaluate(Path(path), data_dir)
    accuracy = result.report["test_accuracy"]
    _record(url, lambda log: log.record_evaluation(result.config_hash, str(Path(path).resolve()), len(result.report["models"]), accuracy["mean"], accuracy["std"]))
    trial_label = _attach_to_trial(url, result)
    if trial_label:
        console.print(f"attached the confusion matrix and the summary to {trial_label} (see it in `fmnist-search dashboard`)", highlight=False)
    console.print(
        f"test accuracy {accuracy['mean']:.4f} ± {accuracy['std']:.4f} over {len(result.report['models'])} model(s); "
        f"report in {result.folder / evaluate.REPORT_FILE}",
        highlight=False,
    )
    return result


def _attach_to_trial(url: str, result: Evaluation) -> str | None:
    """Put an evaluation on its exported trial in the dashboard; None when that trial is not in this store."""

    from search.results import evaluation as evaluate
    from search.results.export import CONFIG_FILE, read_config
    from search.ui.trial_report import attach_evaluation
    from storage.artifacts import open_artifact_store

    config_path = result.folder / CONFIG_FILE
    if not config_path.is_file():
        return None
    config = read_config(config_path)
    if config.study is None or config.trial_number is None:
        return None
    try:
        storage = open_storage(url, must_exist=True)  # reading only: a store without studies gets none
    except StorageError:
        return None
    try:
        study, settings = open_study(storage, config.study)
        trial = study.get_trials(deepcopy=False)[config.trial_number]
    except (StudyError, IndexError):
        return None  # exported from another store, or the study was deleted since
    if settings.space.complete(trial.params) != config.params or trial.value != config.validation_accuracy:
        return None  # a study of the same name, but not the one this export came from
    files = [result.folder / name for name in (evaluate.CONFUSION_FILE, evaluate.SUMMARY_FILE) if (result.folder / name).is_file()]
    summary = (result.folder / evaluate.SUMMARY_FILE).read_text(encoding="utf-8")
    attach_evaluation(study, trial, settings.max_epochs, open_artifact_store(url), Path(result.folder).resolve(), files, summary, config.config_hash)
    return f"trial {trial.number} of study {config.study!r}"


def _record(url: str, write: Callable[[ExportLog], None]) -> None:
    log = ExportLog(url)
    try:
        write(log)
    finally:
        log.close()


def train_baselines(console: Console, *, only: list[str] | None, max_epochs: int | None, out: str | None, storage_url: str | None, data_dir: str | None, verbose: bool) -> None:
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
        _train_one_baseline(console, seed, data, max_epochs, out, url, data_dir)
    console.print("compare with the searched bests: fmnist-search leaderboard", highlight=False)


def _train_one_baseline(console: Console, seed: SeedModel, data: fmnist_data.TrainValData, max_epochs: int | None, out: str | None, url: str, data_dir: str | None) -> None:
    """Train, save, evaluate and record one seed model, with a progress bar over its epochs."""
    from search.results import baselines
    from search.results import evaluation as evaluate

    with _epoch_progress(console) as progress:
        task = progress.add_task(f"{seed.id} ({seed.model})", total=baselines.planned_epochs(seed, max_epochs))
        model, run = baselines.train_seed(seed, data, max_epochs, lambda done, _: progress.update(task, completed=done))
    folder = baselines.baseline_folder(seed, out)
    baselines.write_baseline(seed, run, model, folder)
    test = evaluate.evaluate(folder, data_dir).report["test_accuracy"]["mean"]
    log = ExportLog(url)
    try:
        log.record_evaluation(None, str(folder.resolve()), 1, test, 0.0)
        log.record_baseline(
            seed_id=seed.id,
            model=seed.model,
            epochs_run=run.epochs_run,
            epochs_cap=run.epochs_cap,
            validation_accuracy=run.validation_accuracy,
            test_accuracy=test,
            param_count=run.param_count,
            train_seconds=run.train_seconds,
            folder=str(folder.resolve()),
        )
    finally:
        log.close()
    capped = f" (capped from {seed.training.epochs})" if run.epochs_cap else ""
    console.print(
        f"{seed.id}: val {run.validation_accuracy:.4f}, test {test:.4f}, {run.param_count:,} params, "
        f"{run.epochs_run} epochs{capped} in {run.train_seconds:.0f} s; files in {folder}",
        highlight=False,
    )


def show_leaderboard(console: Console, *, storage_url: str | None, markdown: bool, as_json: bool = False) -> None:
    """Seeds and searched bests side by side, from the store and the export folders.

    Every row is a final model: test accuracy and the time to train one such model (a 60k
    retrain, or a seed's own run); seeds not run yet are named in one line with their command.
    """
    from rich.table import Table

    from search.results import leaderboard
    from spaces.seeds import load_seeds

    url = resolve_url(storage_url, must_exist=True)
    require_store(url)  # before ExportLog, which would create its tables in any database
    log = ExportLog(url)
    try:
        runs, exports = log.baselines(), log.exports()
    finally:
        log.close()
    seeds = load_seeds()
    rows = leaderboard.ranked(leaderboard.seed_rows(seeds, runs) + leaderboard.search_rows(exports))
    not_run = leaderboard.seeds_not_run(seeds, runs)
    storage_flag = f" --storage '{redact(url)}'" if storage_url else ""
    if as_json:
        command = leaderboard.baselines_command(not_run, storage_flag) if not_run else None
        _print_json(console, {"rows": [dataclasses.asdict(row) for row in rows], "seeds_not_run": not_run, "command": command})
        return
    line = leaderboard.not_run_line(not_run, storage_flag)
    if markdown:
        print(leaderboard.markdown_table(rows, line), end="")
        return
    wide = console.width >= 140  # the family only where it fits; --markdown always has it
    table = Table(title="final models: searched bests retrained on 60k, seed baselines (accuracy in %)")
    for heading in (("model",) if wide else ()) + ("name", "test acc", "train", "val acc", "params"):
        table.add_column(heading, no_wrap=True)
    table.add_column("notes", overflow="fold", ratio=1)
    table.add_column("reported", overflow="fold", ratio=1)  # what the seed's report claimed
    for row in rows:
        cells = [
            f"{row.kind} {row.name}",
            leaderboard.format_test(row, with_models=False).removesuffix(" %"),
            leaderboard.format_seconds(row.train_seconds),
            "—" if row.validation_accuracy is None else f"{100 * row.validation_accuracy:.2f}",
            "—" if row.param_count is None else f"{row.param_count:,}",
        ]
        table.add_row(*([row.model] if wide else []), *cells, row.note, row.reported or "—")
    console.print(table)
    if line:
        console.print(line, highlight=False, soft_wrap=True)
