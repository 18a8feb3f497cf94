"""Study settings in the store, resuming, budgets, samplers/pruners and reproducibility."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.engines.optuna.worker import MAX_CONSECUTIVE_FAILURES, WorkerError, WorkerJob, run_worker
from search.study.settings import (
    SETTINGS_ATTR,
    StudyError,
    count_finished,
    make_pruner,
    make_sampler,
    open_study,
    read_settings,
    start_or_resume,
)
from storage import open_storage


def test_settings_are_saved_and_a_resume_keeps_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    settings, resumed = start_or_resume(
        open_storage(url), "mine", space="cnn", max_epochs=4, pruner="median", subset=300, seed=5, n_trials=7
    )
    assert not resumed
    stored = read_settings(open_storage(url), "mine")
    assert stored == settings and stored.space.name == "cnn" and stored.max_epochs == 4
    again, resumed = start_or_resume(open_storage(url), "mine", n_trials=9)
    assert resumed and again.n_trials == 9 and again.pruner == "median" and again.subset == 300
    assert read_settings(open_storage(url), "mine").n_trials == 9
    with pytest.raises(StudyError, match="--space"):
        start_or_resume(open_storage(url), "mine", space="dense")


def test_the_study_attributes_people_see_are_a_one_line_summary_and_old_studies_still_read(tmp_path: Path) -> None:
    """The dashboard's attributes panel and `optuna studies` list user attributes: no raw space blob there."""
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    settings, _ = start_or_resume(storage, "mine", space="cnn", max_epochs=4, subset=300, n_trials=7)
    shown = optuna.load_study(study_name="mine", storage=storage).user_attrs
    assert shown == {SETTINGS_ATTR: "space cnn (cnn), 7 trials, up to 4 epochs, 300 training images, prior + "
                     "hyperband, seed 0"}  # fmt: skip
    old = optuna.create_study(storage=storage, study_name="old")  # settings kept as a user attribute, as before
    old.set_user_attr(SETTINGS_ATTR, settings.to_attrs())
    assert read_settings(storage, "old") == settings


def test_a_study_not_made_by_fmnist_search_is_refused(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    optuna.create_study(storage=storage, study_name="foreign")
    with pytest.raises(StudyError, match="not created by fmnist-search"):
        open_study(storage, "foreign")


def test_pruners_use_epochs_as_resource() -> None:
    hyperband = make_pruner("hyperband", 27).wrapped
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert hyperband._max_resource == 27 and hyperband._min_resource == 1  # noqa: SLF001
    assert isinstance(make_pruner("none", 5), optuna.pruners.NopPruner)
    assert isinstance(make_pruner("sha", 5).wrapped, optuna.pruners.SuccessiveHalvingPruner)
    tpe = make_sampler("tpe", 1)
    assert tpe._multivariate and tpe._constant_liar  # noqa: SLF001


def test_a_median_pruner_really_prunes_below_the_median() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", 5))
    for value in (0.8, 0.82, 0.85, 0.81, 0.83):
        trial = study.ask()
        for step in (1, 2):
            trial.report(value, step)
        study.tell(trial, value)
    weak = study.ask()
    weak.report(0.1, 1)
    weak.report(0.1, 2)
    assert weak.should_prune()


def test_one_seeded_worker_repeats_its_study(real_data_dir: Path, tmp_path: Path) -> None:
    runs = []
    for attempt in range(2):
        url = f"sqlite:///{tmp_path / f'run{attempt}.db'}"
        start_or_resume(
            open_storage(url), "dense", space="dense", max_epochs=1, subset=200, seed=11, n_trials=3, pruner="none"
        )
        run_worker(WorkerJob(url, "dense", data_dir=str(real_data_dir)))
        study, _ = open_study(open_storage(url), "dense")
        runs.append([(t.params, t.value) for t in study.trials])
        assert count_finished(study) == 3
    assert runs[0] == runs[1]


def test_a_worker_that_only_fails_stops_with_the_reason(
    real_data_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import search.engines.optuna.objective

    def broken(*_args, **_kwargs):
        raise RuntimeError("out of paper")

    monkeypatch.setattr(search.engines.optuna.objective, "train_trial", broken)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    start_or_resume(open_storage(url), "dense", space="dense", max_epochs=1, subset=100, n_trials=10)
    with pytest.raises(WorkerError, match="out of paper"):
        run_worker(WorkerJob(url, "dense", data_dir=str(real_data_dir)))
    study, _ = open_study(open_storage(url), "dense")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * MAX_CONSECUTIVE_FAILURES
    assert count_finished(study) == 0
    warnings = capsys.readouterr().err
    assert "trial 0 failed: RuntimeError: out of paper" in warnings and "Traceback" not in warnings


def test_known_good_points_do_not_make_a_resumed_space_different(tmp_path: Path) -> None:
    """A study stored before its space named known-good points resumes with the space that names them."""
    body = 'model = "dense"\n[params]\nlr_schedule = ["constant", "cosine"]\n'
    before, after = tmp_path / "s.toml", tmp_path / "later" / "s.toml"
    after.parent.mkdir()
    before.write_text(body)
    after.write_text(body + '[[known_good]]\nlr_schedule = "cosine"\n')
    url = f"sqlite:///{tmp_path / 'kg.db'}"
    start_or_resume(open_storage(url), "kg", space=str(before))
    settings, resumed = start_or_resume(open_storage(url), "kg", space=str(after))
    assert resumed
    with pytest.raises(StudyError, match="different --space"):
        start_or_resume(open_storage(url), "kg", space="dense")
