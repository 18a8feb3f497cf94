"""An export's final evaluation, shown with the trial it came from in the dashboard.

Artifacts may not be added to a finished trial, so the evaluation's files go to the study (named
after the trial), and the trial's note, which lives in the study's attributes, is rewritten with
the evaluation appended. This writes to the store; nothing here prints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.artifacts import upload_artifact
from optuna_dashboard import save_note

from search.engines.trial_files import learning_curve_url, trial_note
from search.errors import StorageError, StudyError
from search.study.settings import open_study
from storage import open_storage

if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore

    from search.results.evaluation import Evaluation


def attach_to_trial(url: str, result: Evaluation) -> str | None:
    """Put an evaluation on its exported trial in the dashboard; say which trial (None: not in this store)."""
    from search.results import evaluation as evaluate
    from search.results.export_config import CONFIG_FILE, read_config
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
    names = (evaluate.CONFUSION_FILE, evaluate.SUMMARY_FILE)
    files = [result.folder / name for name in names if (result.folder / name).is_file()]
    summary = (result.folder / evaluate.SUMMARY_FILE).read_text(encoding="utf-8")
    folder = Path(result.folder).resolve()
    store = open_artifact_store(url)
    attach_evaluation(study, trial, settings.max_epochs, store, folder, files, summary, config.config_hash)
    return f"trial {trial.number} of study {config.study!r}"


def evaluation_note(
    trial_note_text: str, summary_markdown: str, image_url: str | None, folder: Path, config_hash: str | None
) -> str:
    """The trial's note with the final evaluation of its export appended (and its confusion matrix shown)."""
    body = summary_markdown.replace("# Final evaluation", "## Final evaluation (test set)", 1).strip()
    origin = f"Export `{folder}`" + (f", config hash `{config_hash[:12]}`" if config_hash else "")
    image = f"\n\n![confusion matrix on the test set]({image_url})" if image_url else ""
    return f"{trial_note_text}\n\n{body}{image}\n\n{origin}. The files are also among the study's artifacts."


def attach_evaluation(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    max_epochs: int,
    artifact_store: ArtifactStore,
    folder: Path,
    files: list[Path],
    summary_markdown: str,
    config_hash: str | None,
) -> None:
    """Show an export's evaluation on its trial: the files as study artifacts, the summary in the trial's note."""
    mimetypes = {".png": "image/png", ".md": "text/markdown", ".json": "application/json"}
    image_url = None
    with tempfile.TemporaryDirectory(prefix="fmnist-eval-") as scratch:
        for path in files:
            named = Path(scratch) / f"trial-{trial.number}-{path.name}"
            named.write_bytes(path.read_bytes())
            artifact_id = upload_artifact(
                artifact_store=artifact_store,
                file_path=str(named),
                study_or_trial=study,
                mimetype=mimetypes.get(path.suffix, "application/octet-stream"),
            )
            if path.suffix == ".png":
                image_url = f"/artifacts/{study._study_id}/{artifact_id}"  # optuna-dashboard's route for study files
    pruned = trial.state == optuna.trial.TrialState.PRUNED
    curve = learning_curve_url(study._study_id, trial)
    note_text = trial_note(trial.number, trial.user_attrs, max_epochs, pruned, curve)
    note = evaluation_note(note_text, summary_markdown, image_url, folder, config_hash)
    save_note(optuna.Trial(study, trial._trial_id), note)  # a handle on the finished trial: notes live in study attrs
