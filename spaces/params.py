"""Search-space parameters declared as data, and their validation.

A space is a mapping from a model key (``learning_rate``, ``filters``, ...) to one of
four parameter kinds. Every constructor validates its own ranges, so an impossible
space can never exist as an object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spaces.errors import SpaceError

Scalar = bool | int | float | str


@dataclass(frozen=True)
class IntParam:
    """An integer in ``[low, high]``, optionally on a log scale or with a step."""

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        _check_type(self.name, "low", self.low, int)
        _check_type(self.name, "high", self.high, int)
        _check_type(self.name, "step", self.step, int)
        _check_bounds(self.name, self.low, self.high, self.log)
        if self.step < 1:
            raise SpaceError(f"{self.name}: step must be at least 1, but got step={self.step}")
        if self.log and self.step != 1:
            raise SpaceError(f"{self.name}: log=true cannot be combined with step={self.step}")

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


@dataclass(frozen=True)
class FloatParam:
    """A float in ``[low, high]``, optionally on a log scale."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_type(self.name, "low", self.low, (int, float))
        _check_type(self.name, "high", self.high, (int, float))
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise SpaceError(f"{self.name}: low and high must be finite, but got low={self.low}, high={self.high}")
        _check_bounds(self.name, self.low, self.high, self.log)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high


@dataclass(frozen=True)
class Choice:
    """One value out of a list of scalars."""

    name: str
    choices: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        if len(self.choices) == 0:
            raise SpaceError(f"{self.name}: choices must not be empty")
        for value in self.choices:
            if not isinstance(value, (bool, int, float, str)):
                raise SpaceError(f"{self.name}: choices must be numbers, strings or booleans, but got {value!r}")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise SpaceError(f"{self.name}: choices must not repeat, but got {list(self.choices)}")

    def contains(self, value: Any) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)


@dataclass(frozen=True)
class Fixed:
    """A value the space does not search: always ``value``."""

    name: str
    value: Scalar

    def __post_init__(self) -> None:
        if not isinstance(self.value, (bool, int, float, str)):
            raise SpaceError(f"{self.name}: a fixed value must be a number, string or boolean, but got {self.value!r}")

    def contains(self, value: Any) -> bool:
        return type(value) is type(self.value) and value == self.value


Param = IntParam | FloatParam | Choice | Fixed


def _check_type(name: str, field: str, value: Any, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is int else "a number"
        raise SpaceError(f"{name}: {field} must be {expected}, but got {field}={value!r}")


def _check_bounds(name: str, low: float, high: float, log: bool) -> None:
    if low > high:
        raise SpaceError(f"{name}: low must not exceed high, but got low={low}, high={high}")
    if log and low <= 0:
        raise SpaceError(f"{name}: log=true needs low > 0, but got low={low}")


_KINDS = {"int", "float", "choice", "fixed"}
_FIELDS = {
    "int": {"type", "low", "high", "step", "log"},
    "float": {"type", "low", "high", "log"},
    "choice": {"type", "choices"},
    "fixed": {"type", "value"},
}


def param_from_data(name: str, data: Any) -> Param:
    """Turn one entry of a space file (a table, or a bare scalar for a fixed value) into a Param."""
    if isinstance(data, (bool, int, float, str)):
        return Fixed(name, data)
    if isinstance(data, list):
        return Choice(name, tuple(data))
    if not isinstance(data, dict):
        raise SpaceError(f"{name}: expected a table, a list of choices or a fixed value, but got {data!r}")
    kind = data.get("type")
    if kind not in _KINDS:
        raise SpaceError(f"{name}: type must be one of {sorted(_KINDS)}, but got type={kind!r}")
    unknown = set(data) - _FIELDS[kind]
    if unknown:
        raise SpaceError(f"{name}: unknown field {sorted(unknown)[0]!r} for type={kind!r}")
    missing = _FIELDS[kind] - {"step", "log"} - set(data)
    if missing:
        raise SpaceError(f"{name}: missing field {sorted(missing)[0]!r} for type={kind!r}")
    if "log" in data and not isinstance(data["log"], bool):
        raise SpaceError(f"{name}: log must be true or false, but got log={data['log']!r}")
    if kind == "int":
        return IntParam(name, data["low"], data["high"], data.get("step", 1), data.get("log", False))
    if kind == "float":
        return FloatParam(name, data["low"], data["high"], data.get("log", False))
    if kind == "choice":
        if not isinstance(data["choices"], list):
            raise SpaceError(f"{name}: choices must be a list, but got {data['choices']!r}")
        return Choice(name, tuple(data["choices"]))
    return Fixed(name, data["value"])


def param_to_data(param: Param) -> dict[str, Any]:
    """The inverse of :func:`param_from_data`, always in the explicit table form."""
    if isinstance(param, IntParam):
        return {"type": "int", "low": param.low, "high": param.high, "step": param.step, "log": param.log}
    if isinstance(param, FloatParam):
        return {"type": "float", "low": param.low, "high": param.high, "log": param.log}
    if isinstance(param, Choice):
        return {"type": "choice", "choices": list(param.choices)}
    return {"type": "fixed", "value": param.value}
