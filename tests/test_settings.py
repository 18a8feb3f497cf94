"""The settings object: every FMNIST_* variable read in one place, checked, and listed in one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from search.settings import Settings, SettingsError, WorkerShare
from storage.config import StoreSettings
from storage.errors import StorageError

ROOT = Path(__file__).resolve().parents[1]
READERS = {Path("search/settings.py"), Path("storage/config.py")}  # the only modules that read FMNIST_*


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = Settings.from_environ({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.store.search_home == tmp_path / "fmnist-search"
    assert (settings.store.heartbeat_interval, settings.store.grace_period) == (20, 90)
    assert settings.store.artifacts is None and settings.data_dir is None
    assert (settings.jit_compile, settings.steps_per_execution, settings.status_interval) == (None, None, 60.0)


def test_values_are_read() -> None:
    environ = {
        "FMNIST_SEARCH_HOME": "/srv/fm", "FMNIST_DATA_DIR": "/data", "FMNIST_ARTIFACTS": "/shared/files",
        "FMNIST_HEARTBEAT_INTERVAL": "2", "FMNIST_GRACE_PERIOD": "5", "FMNIST_OUTAGE_SECONDS": "30",
        "FMNIST_STATUS_INTERVAL": "0.5", "FMNIST_JIT_COMPILE": "False", "FMNIST_STEPS_PER_EXECUTION": "32",
    }  # fmt: skip
    settings = Settings.from_environ(environ)
    assert settings.store == StoreSettings(Path("/srv/fm"), Path("/shared/files"), 2, 5, 30)
    assert (settings.data_dir, settings.status_interval) == (Path("/data"), 0.5)
    assert (settings.jit_compile, settings.steps_per_execution) == (False, 32)


@pytest.mark.parametrize(
    ("environ", "error", "names"),
    [
        ({"FMNIST_GRACE_PERIOD": "soon"}, StorageError, "FMNIST_GRACE_PERIOD"),
        ({"FMNIST_HEARTBEAT_INTERVAL": "0"}, StorageError, "FMNIST_HEARTBEAT_INTERVAL"),
        ({"FMNIST_HEARTBEAT_INTERVAL": "30", "FMNIST_GRACE_PERIOD": "30"}, StorageError, "FMNIST_GRACE_PERIOD"),
        ({"FMNIST_OUTAGE_SECONDS": "-1"}, StorageError, "FMNIST_OUTAGE_SECONDS"),
        ({"FMNIST_STATUS_INTERVAL": "0"}, SettingsError, "FMNIST_STATUS_INTERVAL"),
        ({"FMNIST_JIT_COMPILE": "yes"}, SettingsError, "FMNIST_JIT_COMPILE"),
        ({"FMNIST_STEPS_PER_EXECUTION": "1.5"}, SettingsError, "FMNIST_STEPS_PER_EXECUTION"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(environ: dict[str, str], error: type, names: str) -> None:
    with pytest.raises(error) as raised:
        Settings.from_environ(environ)
    assert names in str(raised.value) and "\n" not in str(raised.value)


def test_a_worker_share_survives_the_trip_through_the_environment() -> None:
    share = WorkerShare(worker_id=3, cpu_threads=2, cpu_cores=frozenset({4, 5}), gpu_memory_fraction=0.45)
    assert WorkerShare.from_environ(share.environ()) == share
    assert WorkerShare.from_environ({}) == WorkerShare(None, None, frozenset(), None)


def _variables_in(text: str) -> set[str]:
    return set(re.findall(r"\bFMNIST_[A-Z_]*[A-Z]\b", text))


def test_every_variable_the_code_reads_is_in_the_table() -> None:
    code = {
        name
        for package in ("search", "spaces", "storage")
        for path in (ROOT / package).rglob("*.py")
        for name in _variables_in(path.read_text())
    }
    table = _variables_in((ROOT / "docs" / "configuration.md").read_text())
    assert code and code <= table, f"not in docs/configuration.md: {sorted(code - table)}"


def test_only_the_settings_modules_read_fmnist_variables() -> None:
    readers = set()
    for package in ("search", "spaces", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if re.search(r"environ(\.get)?\(?\[?[\"']FMNIST_|getenv\([\"']FMNIST_|envvar=[\"']FMNIST_", text):
                readers.add(path.relative_to(ROOT))
    assert readers <= READERS, f"read FMNIST_* outside the settings: {sorted(map(str, readers - READERS))}"
