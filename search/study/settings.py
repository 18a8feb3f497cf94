"""Study set-up: the settings a study is started with, saved in the store; samplers and pruners.

A study's settings (space, epochs, pruner, subset, seed, budget) live in the study's system
attributes, so starting it again resumes it as it was, and a worker joining from elsewhere
needs nothing but the study name and the storage URL. Its user attribute of the same name is a
one-line summary, for the dashboard and `optuna studies`, which list user attributes.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna

from search.errors import StudyError, StudyNotFound
from search.study.names import check_study_name
from search.study.options import (
    DEFAULT_EPOCHS,
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    DEFAULT_SEED,
    MAX_SEED,
    PRUNERS,
    SAMPLERS,
)
from search.study.pruner import KnownGoodToTheEnd
from search.study.sampler import PriorGuidedSampler, startup_trials
from spaces.first_trial import default_point, known_good_points
from spaces.space import Space, load_space, space_from_data
from storage.budget import Budget
from storage.engine import storage_errors
from storage.runs import sampler_seed

SETTINGS_ATTR = "fmnist_search"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass(frozen=True)
class StudySettings:
    """Everything that defines what a study's trials mean, plus its study-wide budget."""

    space: Space
    max_epochs: int = DEFAULT_EPOCHS
    sampler: str = DEFAULT_SAMPLER
    pruner: str = DEFAULT_PRUNER
    seed: int = DEFAULT_SEED
    subset: int | None = None
    n_trials: int | None = None

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise StudyError(f"epochs must be at least 1, but got epochs={self.max_epochs}")
        if self.sampler not in SAMPLERS:
            raise StudyError(f"sampler must be one of {', '.join(SAMPLERS)}, but got sampler={self.sampler!r}")
        if self.pruner not in PRUNERS:
            raise StudyError(f"pruner must be one of {', '.join(PRUNERS)}, but got pruner={self.pruner!r}")
        if self.subset is not None and self.subset < 10:
            raise StudyError(f"subset must be at least 10 images, but got subset={self.subset}")
        if self.n_trials is not None and self.n_trials < 1:
            raise StudyError(f"trials must be at least 1, but got trials={self.n_trials}")
        if not 0 <= self.seed <= MAX_SEED:
            raise StudyError(f"seed must lie in [0, {MAX_SEED}] (2**31 - 1), but got seed={self.seed}")

    def to_attrs(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "space": self.space.to_data()}

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> StudySettings:
        return cls(**{**attrs, "space": space_from_data(attrs["space"], default_name="study")})


# Settings that change what a trial's value means: a resumed study must keep them.
_FIXED_ON_RESUME = ("space", "max_epochs", "pruner", "subset")
_FLAGS = {"space": "--space", "max_epochs": "--epochs", "pruner": "--pruner", "subset": "--subset"}


def make_sampler(
    name: str, seed: int, space: Space | None = None, n_trials: int | None = None
) -> optuna.samplers.BaseSampler:
    """TPE is multivariate with the constant liar, so parallel workers do not all try the same point;
    the prior-guided sampler draws its start-up near the family defaults of ``space``, fewer of
    them in a small trial budget (``n_trials``, the study's)."""
    if name == "prior":
        if space is None:
            raise StudyError("the prior sampler needs the study's space")
        known_good = [default_point(space), *known_good_points(space)]
        return PriorGuidedSampler(space, known_good, seed=seed, n_startup=startup_trials(n_trials))
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    try:
        import torch  # noqa: F401  (GPSampler's only heavy dependency; fail early and clearly)
    except ImportError as error:
        raise StudyError("the gp sampler needs PyTorch: pip install torch (CPU build is enough)") from error
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(name: str, max_epochs: int) -> optuna.pruners.BasePruner:
    """Pruners whose resource is the epoch: a trial's step n is its n-th finished epoch. The
    enqueued default and known-good trials train to the end whatever the pruner (search/study/pruner.py)."""
    if name == "hyperband":
        return KnownGoodToTheEnd(
            optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)
        )
    if name == "median":
        return KnownGoodToTheEnd(optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1))
    if name == "sha":
        return KnownGoodToTheEnd(optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    return optuna.pruners.NopPruner()


def open_study(
    storage: optuna.storages.BaseStorage, name: str, worker_id: int = 0, run: int = 0
) -> tuple[optuna.Study, StudySettings]:
    """Load an existing fmnist-search study with the sampler of one worker of one run (storage/runs.py)."""
    settings = read_settings(storage, name)
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(
            settings.sampler, sampler_seed(settings.seed, run, worker_id), settings.space, settings.n_trials
        ),
        pruner=make_pruner(settings.pruner, settings.max_epochs),
    )
    return study, settings


def read_settings(storage: optuna.storages.BaseStorage, name: str) -> StudySettings:
    check_study_name(name)  # every command that takes a study name comes through here
    with storage_errors(str(getattr(storage, "url", "storage"))):
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise StudyNotFound(f"no study named {name!r} in this store (studies there: {known})")
        study_id = storage.get_study_id_from_name(name)
        data = storage.get_study_system_attrs(study_id).get(SETTINGS_ATTR)
        if data is None:  # a study started before the settings moved: its user attribute held them
            data = storage.get_study_user_attrs(study_id).get(SETTINGS_ATTR)
    if not isinstance(data, dict):
        raise StudyWithoutSettings(f"study {name!r} was not created by fmnist-search (it has no saved settings)")
    return StudySettings.from_attrs(data)


def _save_settings(storage: optuna.storages.BaseStorage, name: str, settings: StudySettings) -> None:
    """The settings as data (read back by ``read_settings``), then their summary for people."""
    study_id = storage.get_study_id_from_name(name)
    storage.set_study_system_attr(study_id, SETTINGS_ATTR, settings.to_attrs())
    budget = f"{settings.n_trials} trials" if settings.n_trials else "no trial budget"
    images = f"{settings.subset:,} training images" if settings.subset else "all training images"
    summary = (f"space {settings.space.name} ({settings.space.model}), {budget}, up to {settings.max_epochs} epochs, "
               f"{images}, {settings.sampler} + {settings.pruner}, seed {settings.seed}")  # fmt: skip
    storage.set_study_user_attr(study_id, SETTINGS_ATTR, summary)


class StudyWithoutSettings(StudyError):
    """A study with no fmnist-search settings: not ours, or being created by another start right now."""


# How long a start waits for the settings of a study that another start has just created.
SETTINGS_WAIT_SECONDS = 15.0


def _settings_or_none(storage: optuna.storages.BaseStorage, name: str) -> StudySettings | None:
    """The stored settings; None when there is no such study.

    A study without settings and without trials is most likely being created by a concurrent
    start (Optuna creates the study, then we save its settings): wait a moment for them.
    """
    deadline = time.monotonic() + SETTINGS_WAIT_SECONDS
    while True:
        try:
            return read_settings(storage, name)
        except StudyNotFound:
            return None
        except StudyWithoutSettings:
            study_id = storage.get_study_id_from_name(name)
            if storage.get_all_trials(study_id, deepcopy=False) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


METRIC_NAME = "val_accuracy"


def name_the_metric(study: optuna.Study) -> None:
    """The dashboard calls the objective by this name instead of "Objective 0"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # says nothing to a user
        study.set_metric_names([METRIC_NAME])


def start_or_resume(
    storage: optuna.storages.BaseStorage,
    name: str,
    space: str | None = None,
    max_epochs: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    seed: int | None = None,
    subset: int | None = None,
    n_trials: int | None = None,
) -> tuple[StudySettings, bool]:
    """Create the study, or check the given options against the one in the store.

    Options left as None take the stored value (resume) or the default (new study). Returns
    the settings in force and whether the study already existed.
    """
    check_study_name(name)
    given: dict[str, Any] = {
        "space": load_space(space) if space is not None else None,
        "max_epochs": max_epochs,
        "sampler": sampler,
        "pruner": pruner,
        "seed": seed,
        "subset": subset,
        "n_trials": n_trials,
    }
    given = {key: value for key, value in given.items() if value is not None}
    stored = _settings_or_none(storage, name)
    if stored is None:
        if "space" not in given:
            raise StudyError(f"study {name!r} does not exist yet; say which space to search with --space")
        settings = StudySettings(**given)
        make_sampler(
            settings.sampler, settings.seed, settings.space
        )  # fails now, not in every worker, if it cannot be built
        with storage_errors(str(getattr(storage, "url", "storage"))):
            try:
                study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
            except optuna.exceptions.DuplicatedStudyError:  # another start created it a moment ago
                study = None
            if study is not None:
                _save_settings(storage, name, settings)
                name_the_metric(study)
        if study is not None:
            _reset_budget(storage, name, settings)
            return settings, False
        # Resume what the other start created, checking the options against its settings.
        stored = _settings_or_none(storage, name)
        if stored is None:
            raise StudyError(f"study {name!r} was created and deleted again while this start began; start again")
    for key in _FIXED_ON_RESUME:
        if key in given and _comparable(given[key]) != _comparable(getattr(stored, key)):
            raise StudyError(
                f"study {name!r} was started with a different {_FLAGS[key]} ({_describe(getattr(stored, key))}); "
                f"resume it without {_FLAGS[key]}, or start a new study with --study NAME"
            )
    settings = dataclasses.replace(stored, **{k: v for k, v in given.items() if k not in _FIXED_ON_RESUME})
    if settings != stored:
        with storage_errors(str(getattr(storage, "url", "storage"))):
            _save_settings(storage, name, settings)
    _reset_budget(storage, name, settings, set_limit="n_trials" in given)
    return settings, True


def _reset_budget(
    storage: optuna.storages.BaseStorage, name: str, settings: StudySettings, set_limit: bool = True
) -> None:
    """Slots in use on (re)start: finished trials, and running ones (alive, or dead: the start then
    recovers those, search/engines/coordinator/, which gives their slots back)."""
    study = optuna.load_study(study_name=name, storage=storage)
    in_use = len(study.get_trials(deepcopy=False, states=(*FINISHED, optuna.trial.TrialState.RUNNING)))
    budget = Budget(str(storage.url), name)  # type: ignore[attr-defined]
    try:
        budget.reset(settings.n_trials, in_use, set_limit)
    finally:
        budget.close()


def _comparable(value: Any) -> Any:
    # Known-good points only order the first trials; they do not change what a trial's value means.
    return {k: v for k, v in value.to_data().items() if k != "known_good"} if isinstance(value, Space) else value


def _describe(value: Any) -> str:
    return f"space {value.name!r}" if isinstance(value, Space) else repr(value)


def count_finished(study: optuna.Study) -> int:
    """Finished trials of the whole study: complete plus pruned (failed ones do not count)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def enqueue_warm_start(study: optuna.Study, space: Space) -> tuple[list[str], list[str]]:
    """Enqueue the seed models that fit ``space`` as the next trials; (enqueued ids, skipped with why).

    A seed already enqueued or tried with the same params is not enqueued again, so resuming a
    study with ``--warm-start seeds`` twice adds nothing.
    """
    from spaces.seeds import load_seeds, warm_start_params

    fitting, skipped = warm_start_params(load_seeds(), space)
    for seed_id, params in fitting:
        study.enqueue_trial(params, user_attrs={"warm_start": seed_id}, skip_if_exists=True)
    return [seed_id for seed_id, _ in fitting], skipped
