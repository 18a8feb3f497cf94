"""One set of user errors (search.errors.USER_ERRORS), causes chained, and --verbose shows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search import errors
from search.study.settings import StudySettings, read_settings, start_or_resume
from spaces.space import load_space
from storage import open_storage
from tests.search.cli_helpers import assert_one_line_error, invoke


def test_every_user_error_is_one_kind() -> None:
    user_errors = [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, Exception)]
    assert len(user_errors) >= 10
    for error in [*user_errors, errors.StorageError]:
        assert issubclass(error, errors.USER_ERRORS), error
    assert issubclass(errors.StudyNotFound, errors.StudyError)
    # spaces/ and storage/ define their own (they import nothing from search/); the built-in bases stay.
    assert issubclass(errors.SpaceError, ValueError) and issubclass(errors.StorageError, RuntimeError)


def test_the_packages_raise_the_same_classes() -> None:
    from search.data.loader import DataError
    from spaces.params import SpaceError
    from storage import StorageError

    assert (DataError, SpaceError, StorageError) == (errors.DataError, errors.SpaceError, errors.StorageError)


def test_errors_import_nothing() -> None:
    code = (
        "import sys; import search.errors; "
        "print(sorted(m for m in ('optuna', 'numpy', 'sqlalchemy', 'typer', 'rich') if m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_a_missing_study_is_its_own_class_whatever_the_message(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(errors.StudyNotFound):
        read_settings(storage, "absent")
    # Another fmnist-search error on reading is not taken for "no such study" (no branching on text).
    optuna.create_study(study_name="foreign", storage=storage)
    with pytest.raises(errors.StudyError) as raised:
        start_or_resume(storage, "foreign", space="dense")
    assert not isinstance(raised.value, errors.StudyNotFound)
    settings, resumed = start_or_resume(storage, "fresh", space="dense")
    assert not resumed and settings == StudySettings(space=load_space("dense"))


def test_verbose_shows_the_chained_cause(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{not json")
    args = ("export", "--from-config", str(config), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert_one_line_error(invoke(*args), "corrupt config file")
    verbose = invoke(*args, "--verbose")
    assert verbose.exit_code == 1 and "Traceback" not in verbose.output
    lines = [line for line in verbose.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and "corrupt config file" in lines[0]
    assert lines[1].startswith("caused by: JSONDecodeError:"), verbose.stderr


def test_a_password_in_a_cause_stays_hidden() -> None:
    from search.cli.app import _causes

    try:
        try:
            raise ValueError("could not parse 'postgresql://me:s3cret@host/db' (password=s3cret)")
        except ValueError as cause:
            raise errors.StorageError("invalid storage URL") from cause
    except errors.StorageError as error:
        [line] = list(_causes(error))
    assert "s3cret" not in line and "me:***@host" in line
