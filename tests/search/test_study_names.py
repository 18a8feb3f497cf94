"""Study names follow one character set, checked at creation and by every command; exports stay in exports/."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from search.results.export import ExportError, inside
from search.study.names import StudyNameError, check_study_name
from search.study.settings import SETTINGS_ATTR, StudySettings
from spaces.space import load_space
from storage import open_storage
from tests.search.cli_helpers import assert_one_line_error, invoke

BAD_NAMES = ["../../x", "a/b", "/abs", ".hidden", "..", "", "a b", "a\\b", "x" * 65, "café", "a\n", "-flag", "a;rm"]


@pytest.mark.parametrize("name", ["dense", "cnn-cpu", "run_2.1", "A", "x" * 64, "2024-01-01"])
def test_good_names_pass(name: str) -> None:
    assert check_study_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(StudyNameError, match="invalid study name"):
        check_study_name(name)


def test_start_refuses_a_bad_name_before_writing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert_one_line_error(
        invoke("start", "--space", "dense", "--study", "../../x", "--storage", f"sqlite:///{db}"), "invalid study name"
    )
    assert not db.exists()


def test_a_space_named_like_a_path_needs_its_own_study_name(tmp_path: Path) -> None:
    space = tmp_path / "evil.toml"
    space.write_text('name = "../../evil"\nmodel = "dense"\n')
    db = tmp_path / "x.db"
    assert_one_line_error(
        invoke("start", "--space", str(space), "--storage", f"sqlite:///{db}"), "invalid study name", "--study"
    )
    assert not db.exists()


@pytest.mark.parametrize("command", [("status", "--study"), ("export", "--study"), ("worker", "--study")])
def test_every_command_taking_a_name_checks_it(tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    # A study with a path for a name, written into the store behind the tool's back.
    study = optuna.create_study(study_name="../../x", storage=open_storage(url))
    study.set_user_attr(SETTINGS_ATTR, StudySettings(space=load_space("dense")).to_attrs())
    assert_one_line_error(
        invoke(*command, "../../x", "--storage", url, "--out", str(tmp_path))
        if command[0] == "export"
        else invoke(*command, "../../x", "--storage", url),
        "invalid study name",
    )
    assert not (tmp_path / "exports").exists() and not (tmp_path.parent / "x").exists()
    assert invoke("status", "--storage", url).exit_code == 0  # listing the store still works


def test_a_config_naming_a_path_is_refused(tmp_path: Path) -> None:
    params = {
        "n_layers": 1,
        "units": 16,
        "layer_shape": "constant",
        "activation": "relu",
        "dropout": 0.0,
        "batch_norm": False,
        "learning_rate": 0.01,
        "optimizer": "adam",
        "batch_size": 32,
        "l2": 0.0,
    }
    work = tmp_path / "work"
    work.mkdir()
    config = work / "config.json"
    config.write_text(
        json.dumps(
            {
                "model": "dense",
                "params": params,
                "epochs": 1,
                "batch_size": 32,
                "seed": 0,
                "study": "../../../outside",
                "trial_number": 0,
            }
        )
    )
    result = invoke(
        "export", "--from-config", str(config), "--out", str(work), "--storage", f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert_one_line_error(result, "invalid study name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"] and sorted(p.name for p in work.iterdir()) == [
        "config.json"
    ]


@pytest.mark.parametrize("name", ["../x", "..", ".x", "a/b", "/etc", ""])
def test_export_folders_stay_inside_their_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportError, match="would leave"):
        inside(tmp_path / "exports", name)
    assert inside(tmp_path / "exports", "dense-3") == tmp_path / "exports" / "dense-3"
