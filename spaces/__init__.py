"""Search spaces declared as data, their validation, and the builders that turn params into Keras models."""

from spaces.params import Choice, Fixed, FloatParam, IntParam, Param, SpaceError
from spaces.space import BUILTIN_SPACES, Space, load_space, space_from_data

__all__ = [
    "BUILTIN_SPACES",
    "Choice",
    "Fixed",
    "FloatParam",
    "IntParam",
    "Param",
    "Space",
    "SpaceError",
    "load_space",
    "space_from_data",
]
