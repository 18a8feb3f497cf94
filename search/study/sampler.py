"""The prior-guided sampler: what to try next when a study has minutes, not hours.

Plain TPE starts with ten uniform draws over the whole space. On a CPU each of them can be the
costliest or the worst corner of it (batch 32, four layers of a thousand units, sigmoid, SGD at
1e-4), and a short study spends its budget learning what the family defaults already say. This
sampler follows the idea of πBO and PriorBand (a prior over good configurations, and steps
around the incumbent) through Optuna's public sampler API:

1. **Start-up:** the first trials (a quarter of a small trial budget, at most ``N_STARTUP``)
   are drawn near the known-good points (the family defaults moved into the space, and the
   space's ``[[known_good]]`` points):
   a number from a normal around the point's value (in the log or linear unit of its range),
   a choice kept with probability ``KEEP_CHOICE`` and otherwise drawn among the others.
2. **Then,** each trial is either a small step from the incumbent (the best complete trial:
   one to a few parameters changed, numbers by a narrower normal), with probability
   ``LOCAL_FRACTION``, or TPE (multivariate, constant liar) over every trial so far, which learns
   from the start-up and local trials alike.

A trial's mode is decided when it starts, from the sampler's own seeded generator and the
study's trials, so a one-worker seeded study from scratch stays reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from spaces.params import Choice, FloatParam, IntParam, Param
from spaces.space import Space

N_STARTUP = 8  # trials drawn near the known-good points before TPE and local steps take over
LOCAL_FRACTION = 0.5  # after the start-up: the share of trials that step from the incumbent
STARTUP_SPREAD = 0.12  # standard deviation of a start-up draw, as a fraction of a number's range
LOCAL_SPREAD = 0.08  # the same for a step from the incumbent
KEEP_CHOICE = 0.85  # start-up: the chance that a choice keeps the known-good point's value
STEP_CHANGES = 2.0  # a step from the incumbent changes this many parameters on average (at least one)
_DRAWS = 20  # attempts at a point no trial has tried yet before taking a repeat

PRIOR, LOCAL, TPE = "prior", "local", "tpe"


def startup_trials(n_trials: int | None) -> int:
    """How many trials the start-up draws, given the study's trial budget (None: open-ended).

    Start-up draws are near-copies of the known-good points: in a budget of a dozen trials, eight
    of them would leave almost nothing to the steps from the incumbent that find a better point.
    """
    if n_trials is None:
        return N_STARTUP
    return max(2, min(N_STARTUP, n_trials // 4))


def distribution_of(param: Param) -> BaseDistribution:
    """The Optuna distribution that ``spaces.adapters.suggest`` asks for this parameter."""
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, Choice):
        return CategoricalDistribution(list(param.choices))
    raise TypeError(f"{param.name} is fixed: nothing to sample")


def to_unit(param: IntParam | FloatParam, value: float) -> float:
    """A number's place in its range, 0 to 1, in the range's own scale (log or linear)."""
    low, high, value = float(param.low), float(param.high), float(value)
    if high == low:
        return 0.0
    if param.log:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low)


def from_unit(param: IntParam | FloatParam, unit: float) -> float | int:
    """The inverse of :func:`to_unit`, clipped to the range; integers land on the range's steps."""
    unit = min(max(unit, 0.0), 1.0)
    low, high = float(param.low), float(param.high)
    value = (
        math.exp(math.log(low) + unit * (math.log(high) - math.log(low))) if param.log else low + unit * (high - low)
    )
    if isinstance(param, IntParam):
        steps = round((value - param.low) / param.step)
        return min(param.low + steps * param.step, param.high)
    return min(max(value, low), high)


def draw_near(
    params: Mapping[str, Param], point: Mapping[str, Any], rng: np.random.RandomState, spread: float, keep_choice: float
) -> dict[str, Any]:
    """A draw from a prior centred on ``point``; a parameter the point leaves out is drawn uniformly."""
    drawn: dict[str, Any] = {}
    for name, param in params.items():
        if isinstance(param, Choice):
            here = point.get(name)
            others = [c for c in param.choices if not _same(c, here)]
            if param.contains(here) and (rng.random_sample() < keep_choice or not others):
                drawn[name] = here
            else:
                drawn[name] = others[rng.randint(len(others))] if others else param.choices[0]
        elif isinstance(param, (IntParam, FloatParam)):
            here = point.get(name)
            centre = to_unit(param, here) if param.contains(here) else rng.random_sample()
            drawn[name] = from_unit(param, centre + rng.normal(0.0, spread))
    return drawn


def step_from(params: Mapping[str, Param], point: Mapping[str, Any], rng: np.random.RandomState) -> dict[str, Any]:
    """A neighbour of ``point``: a few parameters changed (at least one), the rest kept."""
    names = [n for n in params if not _single(params[n])]
    chance = min(1.0, STEP_CHANGES / max(1, len(names)))
    changed = [n for n in names if rng.random_sample() < chance] or ([names[rng.randint(len(names))]] if names else [])
    moved = draw_near({n: params[n] for n in changed}, point, rng, LOCAL_SPREAD, keep_choice=0.0)
    for name, value in moved.items():
        param = params[name]
        if isinstance(param, (IntParam, FloatParam)) and value == point.get(name):
            moved[name] = _nudge(param, value)  # clipped at a bound, or rounded back to the same integer
    return {**{n: point[n] for n in params if n in point}, **moved}


class PriorGuidedSampler(optuna.samplers.BaseSampler):
    """Start-up near known-good points, then steps from the incumbent mixed with TPE (module docstring)."""

    def __init__(
        self,
        space: Space,
        known_good: Sequence[Mapping[str, Any]],
        seed: int | None = None,
        n_startup: int = N_STARTUP,
        local_fraction: float = LOCAL_FRACTION,
    ) -> None:
        self._params = space.searched
        self._distributions = {name: distribution_of(p) for name, p in self._params.items()}
        self._known_good = [dict(point) for point in known_good] or [{}]
        self._n_startup = n_startup
        self._local_fraction = local_fraction
        self._rng = np.random.RandomState(seed)
        # TPE starts at once: the start-up trials here are its first observations.
        self._tpe = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=0)
        self._planned: dict[int, dict[str, Any]] = {}  # trial number -> params chosen here (prior, local)

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._tpe.reseed_rng()

    def mode(self, trials: Sequence[FrozenTrial], trial: FrozenTrial) -> str:
        """How ``trial`` is drawn, given the study's trials: near a known-good point, a step from the best, or TPE."""
        others = [t for t in trials if t.number != trial.number and t.state != TrialState.WAITING]
        if len(others) < self._n_startup:
            return PRIOR
        if _complete(others) and self._rng.random_sample() < self._local_fraction:
            return LOCAL
        return TPE

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        trials = study.get_trials(deepcopy=False)  # read once: every choice below is made from it
        mode = self.mode(trials, trial)
        if mode == TPE:
            self._planned.pop(trial.number, None)
            return self._tpe.infer_relative_search_space(study, trial)
        if mode == LOCAL:
            better = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
            incumbent = better(_complete(trials), key=lambda t: t.value).params

            def draw() -> dict[str, Any]:
                return step_from(self._params, incumbent, self._rng)

        else:  # the known-good points take turns as the centre of the start-up draws
            centre = self._known_good[len(trials) % len(self._known_good)]

            def draw() -> dict[str, Any]:
                return draw_near(self._params, centre, self._rng, STARTUP_SPREAD, KEEP_CHOICE)

        self._planned[trial.number] = _untried(draw, {_key(t.params) for t in trials if t.params})
        return dict(self._distributions)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        planned = self._planned.pop(trial.number, None)
        if planned is None:
            return self._tpe.sample_relative(study, trial, search_space)
        return {name: value for name, value in planned.items() if name in search_space}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        # A parameter outside the declared space (or TPE's relative space): TPE's own univariate draw.
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._tpe.after_trial(study, trial, state, values)


def _nudge(param: IntParam | FloatParam, value: float) -> float | int:
    """A different value one spread (or one step) from ``value``, towards the middle of the range."""
    unit = to_unit(param, value)
    inward = 1.0 if unit < 0.5 else -1.0
    moved = from_unit(param, unit + inward * LOCAL_SPREAD)
    if moved == value and isinstance(param, IntParam):
        moved = min(max(value + int(inward) * param.step, param.low), param.high)
    return moved


def _complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def _untried(draw: Any, tried: set[tuple[Any, ...]]) -> dict[str, Any]:
    """A draw no trial has tried yet, or after ``_DRAWS`` attempts the last one (a small space may be used up)."""
    params = draw()
    for _ in range(_DRAWS):
        if _key(params) not in tried:
            break
        params = draw()
    return params


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _single(param: Param) -> bool:
    if isinstance(param, Choice):
        return len(param.choices) < 2
    return isinstance(param, (IntParam, FloatParam)) and param.low == param.high


def _key(params: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((name, repr(value)) for name, value in params.items()))
