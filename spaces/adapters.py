"""Turn one Space declaration into Optuna ``trial.suggest_*`` calls or KerasTuner ``hp.*`` calls."""

from __future__ import annotations

from typing import Any

from spaces.params import Choice, FloatParam, IntParam
from spaces.space import Space


def suggest(space: Space, trial: Any) -> dict[str, Any]:
    """Sample the space with an Optuna trial (or ``FixedTrial``); returns the complete params dict."""
    sampled: dict[str, Any] = {}
    for name, param in space.searched.items():
        if isinstance(param, IntParam):
            sampled[name] = trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
        elif isinstance(param, FloatParam):
            sampled[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
        elif isinstance(param, Choice):
            sampled[name] = trial.suggest_categorical(name, list(param.choices))
    return space.complete(sampled)


def keras_tuner_params(space: Space, hp: Any) -> dict[str, Any]:
    """Declare the space on a ``keras_tuner.HyperParameters`` object; returns the complete params dict."""
    sampled: dict[str, Any] = {}
    for name, param in space.searched.items():
        if isinstance(param, IntParam):
            # KerasTuner reads `step` as a multiplier on a log scale, so only pass it for linear ints.
            step = None if param.log else param.step
            sampled[name] = hp.Int(name, param.low, param.high, step=step, sampling="log" if param.log else "linear")
        elif isinstance(param, FloatParam):
            sampled[name] = hp.Float(name, param.low, param.high, sampling="log" if param.log else "linear")
        elif isinstance(param, Choice) and all(isinstance(c, bool) for c in param.choices):
            # hp.Choice turns booleans into 0/1; hp.Boolean keeps them booleans.
            value = hp.Boolean(name) if len(param.choices) == 2 else hp.Fixed(name, param.choices[0])
            sampled[name] = bool(value)
        elif isinstance(param, Choice):
            sampled[name] = hp.Choice(name, list(param.choices))
    return space.complete(sampled)
