"""A search space: a model family plus the parameters searched over it, loaded from TOML or YAML.

The built-in spaces ``dense`` and ``cnn`` are files in this package (``dense.toml``,
``cnn.toml``) read by the same loader as a user's own file, so both have one format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spaces.families import FAMILIES, defaults
from spaces.params import Choice, Fixed, FloatParam, IntParam, Param, SpaceError, param_from_data, param_to_data

BUILTIN_DIR = Path(__file__).parent
BUILTIN_SPACES = ("dense", "cnn")
_TOP_LEVEL_KEYS = {"name", "model", "description", "params", "known_good"}


@dataclass(frozen=True)
class Space:
    """A validated search space. ``params`` holds only what the file declares."""

    name: str
    model: str
    params: Mapping[str, Param]
    description: str = ""
    # Points known to train well, each a partial assignment of searched params (the family
    # defaults fill the rest): a new study trains them right after the defaults, and the
    # prior-guided sampler draws its start-up trials near them (search/study/sampler.py).
    known_good: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.model not in FAMILIES:
            raise SpaceError(f"model: must be one of {sorted(FAMILIES)}, but got model={self.model!r}")
        keys = FAMILIES[self.model]
        for name, param in self.params.items():
            if name not in keys:
                raise SpaceError(f"params.{name}: unknown key for a {self.model} model; known keys: {', '.join(keys)}")
            _check_param_fits_key(self.model, name, param)
        for index, point in enumerate(self.known_good):
            _check_known_good(self.searched, point, f"known_good[{index}]")

    @property
    def searched(self) -> dict[str, Param]:
        """The parameters the sampler chooses (everything that is not fixed)."""
        return {n: p for n, p in self.params.items() if not isinstance(p, Fixed)}

    def complete(self, sampled: Mapping[str, Any]) -> dict[str, Any]:
        """The full params dict for the builder: family defaults, then fixed values, then sampled ones."""
        fixed = {n: p.value for n, p in self.params.items() if isinstance(p, Fixed)}
        return {**defaults(self.model), **fixed, **sampled}

    def to_data(self) -> dict[str, Any]:
        """A plain dict in the file format; ``space_from_data(s.to_data()) == s``."""
        data = {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "params": {n: param_to_data(p) for n, p in self.params.items()},
        }
        return {**data, "known_good": [dict(point) for point in self.known_good]} if self.known_good else data


def _check_param_fits_key(model: str, name: str, param: Param) -> None:
    """Every value the param can take must be one the builder accepts."""
    key = FAMILIES[model][name]
    where = f"params.{name}"
    if isinstance(param, (IntParam, FloatParam)):
        if key.kind in ("bool", "category"):
            raise SpaceError(f"{where}: takes {key.kind} values; declare it as a choice")
        if key.kind == "int" and isinstance(param, FloatParam):
            raise SpaceError(f'{where}: takes integers; declare it with type = "int"')
        for bound in (param.low, param.high):
            problem = key.check(bound if key.kind == "int" else float(bound))
            if problem:
                raise SpaceError(f"{where}: {problem}")
        return
    values = param.choices if isinstance(param, Choice) else (param.value,)
    for value in values:
        if key.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = key.check(value)
        if problem:
            raise SpaceError(f"{where}: {problem}")


def _check_known_good(searched: Mapping[str, Param], point: Any, where: str) -> None:
    """A known-good point names only searched params, each with a value the space can take."""
    if not isinstance(point, Mapping) or not point:
        raise SpaceError(f"{where}: expected a table of searched params and values, but got {point!r}")
    for name, value in point.items():
        if name not in searched:
            raise SpaceError(f"{where}.{name}: not a searched param of this space")
        if not searched[name].contains(value):
            raise SpaceError(f"{where}.{name}: {value!r} lies outside the space")


def space_from_data(data: Any, default_name: str) -> Space:
    """Build a Space from the parsed contents of a space file."""
    if not isinstance(data, dict):
        raise SpaceError(f"expected a table at the top level, but got {type(data).__name__}")
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise SpaceError(f"{sorted(unknown)[0]}: unknown top-level key; expected {sorted(_TOP_LEVEL_KEYS)}")
    if "model" not in data:
        raise SpaceError('model: missing; say which family to build, e.g. model = "cnn"')
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise SpaceError(f"params: expected a table, but got {params!r}")
    parsed = {}
    for name, entry in params.items():
        try:
            parsed[name] = param_from_data(name, entry)
        except SpaceError as error:
            raise SpaceError(f"params.{error}") from error
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise SpaceError(f"name: must be a non-empty string, but got {name!r}")
    known_good = data.get("known_good", [])
    if not isinstance(known_good, list):
        raise SpaceError(f"known_good: expected a list of tables ([[known_good]]), but got {known_good!r}")
    return Space(
        name=name,
        model=data["model"],
        params=parsed,
        description=str(data.get("description", "")),
        known_good=tuple(dict(point) if isinstance(point, dict) else point for point in known_good),
    )


def _parse_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        return tomllib.loads(text)
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text)
    raise SpaceError(f"{path}: unsupported file type {path.suffix!r}; use .toml, .yaml or .yml")


def load_space(name_or_path: str) -> Space:
    """Load a built-in space by name (``dense``, ``cnn``) or a user's ``.toml``/``.yaml`` file.

    Raises SpaceError with a one-line message that names the file and the offending key.
    """
    if name_or_path in BUILTIN_SPACES:
        path = BUILTIN_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
        if path.is_dir():
            raise SpaceError(f"space {path} is a folder; give a .toml or .yaml space file")
        if path.suffix not in (".toml", ".yaml", ".yml"):
            raise SpaceError(
                f"unknown space {name_or_path!r}: expected one of {', '.join(BUILTIN_SPACES)} "
                "or a path to a .toml/.yaml space file"
            )
        if not path.is_file():
            raise SpaceError(f"space file {path} does not exist")
    try:
        data = _parse_file(path)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SpaceError(f"{path}: malformed file: {first_line}") from error
    except UnicodeDecodeError as error:
        raise SpaceError(f"{path}: malformed file: not UTF-8 text") from error
    except OSError as error:  # unreadable (permissions), or gone since the check
        raise SpaceError(f"{path}: cannot read the space file: {error.strerror or error}") from error
    try:
        return space_from_data(data, default_name=path.stem)
    except SpaceError as error:
        raise SpaceError(f"{path}: {error}") from error
