"""The first trials of a new study: the family's defaults moved into the space, then the space's known-good points.

Why a fixed first trial: with Hyperband, Optuna promotes the first trial of each bracket to the
last epoch (it has nothing to compare it with yet), so whatever the sampler draws first trains in
full. Drawn at random, that can be the costliest corner of the space (batch 32, four wide layers,
minutes an epoch on a CPU) while nothing else runs. The family defaults (spaces/families.py) are
cheap and known to be good, so the first full-length trial gives a sound result within a minute or
two and a bar for the pruner to measure the next ones against.

A space may also name known-good points (``[[known_good]]`` in its file): partial assignments,
such as the defaults with a cosine schedule, that the family defaults complete. They are what a
practitioner would try second, and they train next.
"""

from __future__ import annotations

from typing import Any

from spaces.families import defaults
from spaces.params import FloatParam, IntParam
from spaces.space import Space


def default_point(space: Space) -> dict[str, Any]:
    """The family defaults of the searched params: a number outside its range moves to the nearest
    bound (an l2 of 0 becomes the space's smallest l2); a choice the space does not offer is left
    for the sampler."""
    family = defaults(space.model)
    point: dict[str, Any] = {}
    for name, param in space.searched.items():
        if name not in family:
            continue
        value = family[name]
        if (
            isinstance(param, (IntParam, FloatParam))
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            value = min(max(value, param.low), param.high)
            if isinstance(param, IntParam):
                value = min(param.low + round((int(value) - param.low) / param.step) * param.step, param.high)
        if param.contains(value):  # a choice the space does not offer is left to the sampler
            point[name] = value
    return point


def known_good_points(space: Space) -> list[dict[str, Any]]:
    """The space's known-good points, each completed with the default point: the trials after the first."""
    first = default_point(space)
    return [{**first, **point} for point in space.known_good]
