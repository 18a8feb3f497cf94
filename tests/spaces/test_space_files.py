"""Loading spaces: the built-ins, user TOML/YAML files, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from spaces import Choice, Fixed, FloatParam, IntParam, SpaceError, load_space
from spaces.families import ACTIVATIONS, OPTIMIZERS, defaults


@pytest.mark.parametrize("name", ["dense", "cnn"])
def test_builtin_spaces_declare_the_promised_dimensions(name: str) -> None:
    space = load_space(name)
    common = {"activation", "dropout", "learning_rate", "optimizer", "batch_size", "l2"}
    specific = {
        "dense": {"n_layers", "units"},
        "cnn": {"conv_blocks", "filters", "kernel_size", "batch_norm", "dense_units"},
    }
    assert common | specific[name] <= set(space.searched)
    assert set(space.params["activation"].choices) == set(ACTIVATIONS)
    assert set(space.params["optimizer"].choices) == set(OPTIMIZERS)
    learning_rate = space.params["learning_rate"]
    assert isinstance(learning_rate, FloatParam) and learning_rate.log


def test_user_toml_and_yaml_files_mean_the_same(tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'model = "dense"\n[params]\nunits = { type = "int", low = 16, high = 64, log = true }\n'
        'activation = ["relu", "tanh"]\ndropout = 0.1\n'
    )
    yaml = tmp_path / "mine.yaml"
    yaml.write_text(
        "model: dense\nparams:\n  units: {type: int, low: 16, high: 64, log: true}\n"
        "  activation: [relu, tanh]\n  dropout: 0.1\n"
    )
    a, b = load_space(str(toml)), load_space(str(yaml))
    assert a == b and a.name == "mine"
    assert a.params["units"] == IntParam("units", 16, 64, log=True)
    assert a.params["activation"] == Choice("activation", ("relu", "tanh"))
    assert a.params["dropout"] == Fixed("dropout", 0.1)
    completed = a.complete({"units": 32, "activation": "tanh"})
    assert completed == {**defaults("dense"), "units": 32, "activation": "tanh", "dropout": 0.1}


@pytest.mark.parametrize(
    "body, names",
    [
        ('model = "dense"\n[params]\nunits = { type = "int", low = 64, high = 8 }', ("units", "low")),
        (
            'model = "dense"\n[params]\nlearning_rate = { type = "float", low = 0.0, high = 0.1, log = true }',
            ("learning_rate", "log"),
        ),
        ('model = "dense"\n[params]\nactivation = { type = "choice", choices = [] }', ("activation", "empty")),
        ('model = "dense"\n[params]\nfilters = 32', ("filters", "unknown key")),
        ('model = "dense"\n[params]\nunits = { type = "int", low = 1, high = 8, stride = 2 }', ("units", "stride")),
        ('model = "dense"\n[params]\nactivation = ["relu", "mish"]', ("activation", "mish")),
        ('model = "dense"\n[params]\ndropout = { type = "float", low = 0.5, high = 1.5 }', ("dropout", "1.5")),
        ('model = "dense"\n[params]\nunits = { type = "float", low = 8, high = 16 }', ("units", "int")),
        ('model = "transformer"', ("model", "transformer")),
        ("[params]\nunits = 8", ("model", "missing")),
        ('model = "dense"\ncolour = "red"', ("colour", "unknown")),
        ('model = "dense"\n[params]\nunits = { low = 1, high = 2 }', ("units", "type")),
        ('model = "dense"\n[params]\nunits = { type = "int", high = 2 }', ("units", "low")),
        (
            'model = "dense"\n[params]\nunits = [64, 128]\n[[known_good]]\nunits = 256',
            ("known_good[0].units", "outside"),
        ),
        (
            'model = "dense"\n[params]\nunits = [64, 128]\n[[known_good]]\ndropout = 0.3',
            ("known_good[0].dropout", "not a searched"),
        ),
        ('model = "dense"\nknown_good = "cosine"', ("known_good", "list")),
    ],
)
def test_bad_space_file_gets_one_line_naming_the_key(tmp_path: Path, body: str, names: tuple[str, str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(SpaceError) as caught:
        load_space(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    for name in names:
        assert name in message


def test_malformed_files_and_unknown_names(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('model = "dense"\n[params\n')
    with pytest.raises(SpaceError, match="malformed"):
        load_space(str(broken))
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("model: [dense\n")
    with pytest.raises(SpaceError, match="malformed"):
        load_space(str(broken_yaml))
    with pytest.raises(SpaceError, match="unknown space 'resnet'"):
        load_space("resnet")
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(str(tmp_path / "missing.toml"))
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(SpaceError, match="top level"):
        load_space(str(listed))


EXAMPLE_SPACES = sorted((Path(__file__).parents[2] / "spaces" / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLE_SPACES, ids=lambda path: path.name)
def test_example_space_files_load_and_stay_inside_the_builtin_space(path: Path) -> None:
    """An example narrows a built-in space: every searched range lies inside the built-in one."""
    example = load_space(str(path))
    builtin = load_space(example.model)
    for name, param in example.params.items():
        wide = builtin.params[name]
        if isinstance(param, (IntParam, FloatParam)):
            assert isinstance(wide, type(param)) and wide.low <= param.low <= param.high <= wide.high, name
        elif isinstance(param, Choice):
            assert set(param.choices) <= set(wide.choices), name
        else:
            assert isinstance(param, Fixed)
            if isinstance(wide, Choice):
                assert param.value in wide.choices, name
            else:
                assert isinstance(wide, (IntParam, FloatParam)) and wide.low <= param.value <= wide.high, name


def test_known_good_points_round_trip_and_complete_the_default_point(tmp_path: Path) -> None:
    from spaces.first_trial import default_point, known_good_points
    from spaces.space import space_from_data

    path = tmp_path / "mine.toml"
    path.write_text(
        'model = "dense"\n[params]\nunits = { type = "int", low = 64, high = 1024, log = true }\n'
        'lr_schedule = ["constant", "cosine"]\n[[known_good]]\nlr_schedule = "cosine"\n'
    )
    space = load_space(str(path))
    assert space_from_data(space.to_data(), default_name="x") == space
    assert known_good_points(space) == [{**default_point(space), "lr_schedule": "cosine"}]
    assert "known_good" not in load_space("cnn").to_data()  # a space without points stores as before
