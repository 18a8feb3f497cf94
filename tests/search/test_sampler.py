"""The prior-guided sampler on real in-memory Optuna studies over the built-in spaces (no training)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from search.study.sampler import (
    LOCAL,
    N_STARTUP,
    PRIOR,
    TPE,
    PriorGuidedSampler,
    draw_near,
    from_unit,
    startup_trials,
    step_from,
    to_unit,
)
from search.study.settings import make_sampler
from spaces.adapters import suggest
from spaces.first_trial import default_point
from spaces.params import FloatParam, IntParam
from spaces.space import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)
DENSE = load_space("dense")


def params_of(study: optuna.Study) -> list[dict]:
    return [t.params for t in study.get_trials(deepcopy=False)]


def run(sampler: optuna.samplers.BaseSampler, n: int, objective=None) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(
        objective or (lambda trial: -abs(math.log10(suggest(DENSE, trial)["learning_rate"]) + 3)), n_trials=n
    )
    return study


def modes_of(sampler: optuna.samplers.BaseSampler, n: int) -> list[str]:
    """How the prior-guided ``sampler`` drew each of ``n`` trials of a fresh study."""
    modes: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        trials = trial.study.get_trials(deepcopy=False)
        modes.append(sampler.mode(trials, trials[-1]))
        return suggest(DENSE, trial)["dropout"]

    run(sampler, n, objective)
    return modes


def test_a_unit_round_trip_keeps_numbers_and_integers_land_on_their_steps() -> None:
    lr, units, stepped = (
        FloatParam("lr", 1e-4, 1e-1, log=True),
        IntParam("u", 64, 1024, log=True),
        IntParam("s", 0, 10, step=5),
    )
    assert from_unit(lr, to_unit(lr, 1e-3)) == pytest.approx(1e-3)
    assert to_unit(lr, 1e-4) == 0.0 and to_unit(lr, 1e-1) == 1.0
    assert from_unit(units, to_unit(units, 256)) == 256
    assert {from_unit(stepped, u / 20) for u in range(21)} <= {0, 5, 10}
    assert from_unit(lr, 7.0) == pytest.approx(1e-1) and from_unit(lr, -3.0) == pytest.approx(1e-4)  # clipped


def test_start_up_draws_stay_near_the_known_good_point_and_inside_the_space() -> None:
    rng = np.random.RandomState(0)
    centre = default_point(DENSE)
    draws = [draw_near(DENSE.searched, centre, rng, 0.15, 0.7) for _ in range(400)]
    for draw in draws:
        assert all(DENSE.searched[name].contains(value) for name, value in draw.items())
    # Uniform over [1e-4, 3e-2] (log) would put ~60 % of learning rates more than 4x from 1e-3.
    far = sum(abs(math.log10(d["learning_rate"] / 1e-3)) > math.log10(4) for d in draws) / len(draws)
    assert far < 0.35
    kept = sum(d["activation"] == "relu" for d in draws) / len(draws)
    assert 0.6 < kept < 0.8  # the point's choice most of the time, the others still tried


def test_a_step_from_the_incumbent_changes_at_least_one_parameter_and_keeps_most() -> None:
    rng = np.random.RandomState(1)
    incumbent = draw_near(DENSE.searched, default_point(DENSE), rng, 0.15, 0.7)
    for _ in range(200):
        step = step_from(DENSE.searched, incumbent, rng)
        changed = [n for n in incumbent if step[n] != incumbent[n]]
        assert 1 <= len(changed) <= len(incumbent) // 2
        assert all(DENSE.searched[name].contains(value) for name, value in step.items())


def test_the_first_trials_are_drawn_near_the_defaults_then_local_steps_and_tpe_mix() -> None:
    modes = modes_of(PriorGuidedSampler(DENSE, [default_point(DENSE)], seed=3, n_startup=5), 30)
    assert modes[:5] == [PRIOR] * 5
    assert {LOCAL, TPE} <= set(modes[5:])


def test_a_small_trial_budget_leaves_most_trials_to_steps_from_the_incumbent_and_tpe() -> None:
    """A 12-trial study draws 3 start-up trials near the defaults, not 8: the rest can find a better point."""
    modes = modes_of(make_sampler("prior", 0, DENSE, n_trials=12), 12)
    assert modes[:3] == [PRIOR] * 3 and PRIOR not in modes[3:]
    assert startup_trials(None) == startup_trials(400) == N_STARTUP and startup_trials(1) == 2


def test_a_seeded_study_is_reproducible_and_draws_no_point_twice() -> None:
    first, second = run(make_sampler("prior", 7, DENSE), 25), run(make_sampler("prior", 7, DENSE), 25)
    assert params_of(first) == params_of(second)
    assert len({tuple(sorted(p.items())) for p in params_of(first)}) == 25
    assert params_of(run(make_sampler("prior", 8, DENSE), 25)) != params_of(first)


def test_the_search_finds_a_better_point_than_uniform_start_up_in_few_trials() -> None:
    """A toy objective that peaks near the defaults: the prior's start-up gets there in fewer trials."""

    def near_default(trial: optuna.Trial) -> float:
        p = suggest(DENSE, trial)
        return -abs(math.log2(p["units"] / 300)) - abs(p["dropout"] - 0.25) * 4 - (p["activation"] != "relu")

    ours = [run(make_sampler("prior", s, DENSE), 12, near_default).best_value for s in range(5)]
    tpe = [run(make_sampler("tpe", s), 12, near_default).best_value for s in range(5)]
    assert np.mean(ours) > np.mean(tpe)


def test_a_narrow_example_space_is_sampled_only_inside_itself() -> None:
    quick = load_space("spaces/examples/quickstart.toml")
    study = run(make_sampler("prior", 0, quick), 20, lambda t: float(suggest(quick, t)["dropout"]))
    assert len({tuple(sorted(p.items())) for p in params_of(study)}) == 20
    for params in params_of(study):
        assert set(params) == set(quick.searched)
        assert all(quick.searched[name].contains(value) for name, value in params.items())
