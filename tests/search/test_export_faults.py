"""Export and evaluate under faults: a full disk, two exports into one folder at once, swapped model files.

An export is written whole or not at all, by one run only; a failure is one ``error:`` line that
leaves the previous export as it was and no staging folder behind. ``evaluate`` refuses model
files that are not the ones the export wrote (their sha256 is recorded beside them).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from search.errors import ExportError
from search.results import export, staging
from tests.search.cli_helpers import assert_one_line_error, invoke
from tests.search.test_export import tiny_config

REPO = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def leftovers(parent: Path, keep: str) -> list[str]:
    """Anything beside the export folder: staging or set-aside folders that a run failed to clear."""
    return sorted(path.name for path in parent.iterdir() if path.name != keep)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_whole_export(folder: Path) -> None:
    """The folder's models are the ones its manifest names, made from its config.json (no mix of two runs)."""
    config = export.read_config(folder / export.CONFIG_FILE)
    manifest = json.loads((folder / export.RETRAIN_FILE).read_text())
    assert manifest["config_hash"] == config.config_hash
    models = sorted(path.name for path in folder.glob("model-*.keras"))
    assert models == sorted(manifest["model_sha256"])
    for name in models:
        assert sha256(folder / name) == manifest["model_sha256"][name]


# --- a full disk --------------------------------------------------------------------------------------------


def export_cli(config_path: Path, out: Path, data: Path, db: Path, repeats: int = 2) -> Any:
    return invoke("export", "--from-config", str(config_path), "--out", str(out), "--repeats", str(repeats),
                  "--data-dir", str(data), "--storage", f"sqlite:///{db}")  # fmt: skip


@pytest.mark.parametrize("failing", ["config.json", "model-1.keras", "retrain.json"])
def test_a_full_disk_at_any_write_is_one_line_and_keeps_the_previous_export(
    failing: str, tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    data = tiny_data_dir()
    target = tmp_path / "out" / "exports" / "dense-0"
    export.write_export(tiny_config(study="dense", trial_number=0), target, 1, str(data))
    before = snapshot(target)
    new_config = tmp_path / "seed-9.json"
    new_config.write_text(tiny_config(study="dense", trial_number=0, seed=9).to_json())

    def full(path: Any) -> None:
        # A real full disk: the file is created, a little goes in, then ENOSPC.
        Path(path).write_bytes(b"PK\x03\x04")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    real_write_text, real_save = Path.write_text, keras.Model.save

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        return full(self) if self.name == failing else real_write_text(self, *args, **kwargs)

    def save(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        return full(path) if Path(path).name == failing else real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(keras.Model, "save", save)
    result = export_cli(new_config, tmp_path / "out", data, tmp_path / "x.db")
    assert_one_line_error(result, "No space left on device", str(target))
    assert snapshot(target) == before
    assert leftovers(target.parent, keep="dense-0") == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MiB tmpfs, mounted for the test (needs root; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill the disk until only about ``leave`` bytes are free."""
    with open(disk / "filler", "wb", buffering=0) as filler:  # unbuffered: the ENOSPC comes from the write itself
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    size = (disk / "filler").stat().st_size
    os.truncate(disk / "filler", max(0, size - leave))


def test_an_export_into_a_really_full_disk_is_one_line(small_disk: Path, tiny_data_dir, tmp_path: Path) -> None:
    data = tiny_data_dir()
    first = tmp_path / "seed-5.json"
    first.write_text(tiny_config(study="dense", trial_number=0).to_json())
    assert export_cli(first, small_disk, data, tmp_path / "x.db", repeats=1).exit_code == 0
    target = small_disk / "exports" / "dense-0"
    before = snapshot(target)
    second = tmp_path / "seed-9.json"
    second.write_text(tiny_config(study="dense", trial_number=0, seed=9).to_json())
    fill(small_disk, leave=16 * 1024)  # room for the config, not for a model

    assert_one_line_error(export_cli(second, small_disk, data, tmp_path / "x.db"), "No space left on device")
    assert snapshot(target) == before
    assert leftovers(target.parent, keep="dense-0") == []


# --- two exports into one folder at once --------------------------------------------------------------------


class FakeModel:
    """Saves a few bytes that say which run made it, after waiting for the other run to be staging too."""

    def __init__(self, seed: int, repeat: int, barrier: threading.Barrier) -> None:
        self.seed, self.repeat, self.barrier = seed, repeat, barrier

    def save(self, path: Path) -> None:
        if self.repeat == 0:
            self.barrier.wait()  # both runs have a staging folder now
        Path(path).write_bytes(f"seed={self.seed} repeat={self.repeat}".encode())


def test_two_runs_staging_into_one_folder_at_once_never_mix(
    tiny_data_dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = str(tiny_data_dir())
    target = tmp_path / "exports" / "dense-0"
    export.write_export(tiny_config(study="dense", trial_number=0, seed=1), target, 1, data)
    barrier = threading.Barrier(2, timeout=20)
    monkeypatch.setattr(
        export,
        "train_model",
        lambda config, images, labels, repeat, listener=None: FakeModel(config.seed, repeat, barrier),
    )
    outcomes: dict[int, Any] = {}

    def run(seed: int) -> None:
        try:
            outcomes[seed] = export.write_export(tiny_config(study="dense", trial_number=0, seed=seed), target, 3, data)
        except BaseException as error:  # noqa: BLE001 - the test looks at whatever each run ended with
            outcomes[seed] = error
            barrier.abort()  # never leave the other run waiting

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (5, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    for seed, outcome in outcomes.items():  # each run won, or lost in one clear line
        assert isinstance(outcome, list | ExportError), f"seed {seed}: {outcome!r}"
        assert isinstance(outcome, list) or "\n" not in str(outcome)
    winners = [seed for seed, outcome in outcomes.items() if isinstance(outcome, list)]
    assert winners, outcomes
    seed = export.read_config(target / export.CONFIG_FILE).seed
    assert seed in winners
    assert {(target / f"model-{i}.keras").read_text() for i in range(3)} == {
        f"seed={seed} repeat={i}" for i in range(3)
    }
    assert leftovers(target.parent, keep="dense-0") == []


def test_a_run_that_loses_the_race_to_place_its_folder_keeps_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between setting the previous export aside and renaming the new one in, another run put its folder there."""
    folder = tmp_path / "exports" / "dense-0"
    folder.mkdir(parents=True)
    (folder / "model-0.keras").write_text("previous")
    ours = staging.make_staging(folder)
    (ours / "model-0.keras").write_text("ours")
    real_set_aside = staging.set_aside

    def winner_arrives(path: Path) -> Path | None:
        aside = real_set_aside(path)
        path.mkdir()
        (path / "model-0.keras").write_text("winner")
        return aside

    monkeypatch.setattr(staging, "set_aside", winner_arrives)
    with pytest.raises(ExportError, match="another export") as caught:
        staging.put_in_place(ours, folder)
    assert "\n" not in str(caught.value)
    assert (folder / "model-0.keras").read_text() == "winner"
    assert leftovers(folder.parent, keep="dense-0") == []


def test_a_killed_runs_staging_folder_is_cleared_but_a_live_ones_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "exports" / "dense-0"
    live = staging.make_staging(folder)
    dead = Path(str(live).replace(f"-{os.getpid()}-", f"-{dead_pid()}-"))
    live.rename(dead)
    live = staging.make_staging(folder)  # clears the dead run's folder, not its own
    legacy = folder.with_name(folder.name + ".partial")  # what earlier versions staged into
    legacy.mkdir()
    other = staging.make_staging(folder)
    assert live.is_dir() and other.is_dir() and not dead.exists() and not legacy.exists()


def test_a_previous_export_that_a_killed_run_had_set_aside_is_put_back(tmp_path: Path) -> None:
    folder = tmp_path / "exports" / "dense-0"
    folder.mkdir(parents=True)
    (folder / "model-0.keras").write_text("previous")
    aside = staging.set_aside(folder)
    assert aside is not None and not folder.exists()
    aside.rename(Path(str(aside).replace(f"-{os.getpid()}-", f"-{dead_pid()}-")))  # killed before its rename
    staging.make_staging(folder)
    assert (folder / "model-0.keras").read_text() == "previous"


def dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.slow
def test_two_export_processes_into_one_out(tiny_data_dir, tmp_path: Path) -> None:
    """Two real ``fmnist-search export`` processes of one trial (different seeds) into the same --out."""
    data = tiny_data_dir(n_train=600)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = []
    for seed in (5, 6):
        config = tmp_path / f"seed-{seed}.json"
        config.write_text(tiny_config(study="dense", trial_number=0, seed=seed, epochs=3).to_json())
        store = f"sqlite:///{tmp_path / f'{seed}.db'}"  # one each: the race under test is the folder's
        out = str(tmp_path / "out")
        command = [sys.executable, "-m", "search", "export", "--from-config", str(config), "--out", out,
                   "--repeats", "3", "--data-dir", str(data), "--storage", store]  # fmt: skip
        runs.append(
            subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    for run in runs:
        _, stderr = run.communicate(timeout=240)
        assert "Traceback" not in stderr, stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert run.returncode == 0 or (run.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:")), (
            stderr
        )
    assert 0 in [run.returncode for run in runs]
    target = tmp_path / "out" / "exports" / "dense-0"
    assert_one_whole_export(target)
    assert leftovers(target.parent, keep="dense-0") == []


# --- evaluate checks the models against the export's record ---------------------------------------------------


@pytest.fixture
def two_exports(tiny_data_dir, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(data folder, export of study a, export of study b): same model family, different seeds."""
    data = tiny_data_dir()
    ours, theirs = tmp_path / "exports" / "a-0", tmp_path / "exports" / "b-0"
    export.write_export(tiny_config(study="a", trial_number=0, seed=1), ours, 2, str(data))
    export.write_export(tiny_config(study="b", trial_number=0, seed=2), theirs, 2, str(data))
    return data, ours, theirs


def evaluate_cli(folder: Path, data: Path, tmp_path: Path) -> Any:
    return invoke("evaluate", str(folder), "--data-dir", str(data), "--storage", f"sqlite:///{tmp_path / 'x.db'}")


def test_an_export_records_each_models_sha256_with_its_config_hash(two_exports) -> None:
    _, ours, _ = two_exports
    assert_one_whole_export(ours)


def test_a_model_swapped_in_from_another_study_is_refused(two_exports, tmp_path: Path) -> None:
    data, ours, theirs = two_exports
    shutil.copyfile(theirs / "model-0.keras", ours / "model-0.keras")
    assert_one_line_error(evaluate_cli(ours, data, tmp_path), "model-0.keras", "sha256")
    assert not (ours / "report.json").exists()
    assert_one_line_error(evaluate_cli(ours / "model-0.keras", data, tmp_path), "model-0.keras", "sha256")


def test_models_swapped_in_with_their_manifest_are_refused(two_exports, tmp_path: Path) -> None:
    data, ours, theirs = two_exports
    for name in ("model-0.keras", "model-1.keras", "retrain.json"):
        shutil.copyfile(theirs / name, ours / name)
    assert_one_line_error(evaluate_cli(ours, data, tmp_path), "config_hash")
    assert not (ours / "report.json").exists()


def test_a_model_added_or_removed_is_refused(two_exports, tmp_path: Path) -> None:
    data, ours, theirs = two_exports
    shutil.copyfile(theirs / "model-0.keras", ours / "model-2.keras")
    assert_one_line_error(evaluate_cli(ours, data, tmp_path), "model-2.keras", "not one")
    (ours / "model-2.keras").unlink()
    (ours / "model-1.keras").unlink()
    assert_one_line_error(evaluate_cli(ours, data, tmp_path), "model-1.keras", "missing")


@pytest.mark.parametrize("damage", ["no hashes", "no manifest"])
def test_an_export_from_before_model_hashes_is_refused_with_how_to_redo_it(
    damage: str, two_exports, tmp_path: Path
) -> None:
    data, ours, _ = two_exports
    manifest = ours / "retrain.json"
    if damage == "no manifest":
        manifest.unlink()
    else:
        old = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({k: v for k, v in old.items() if k not in ("model_sha256", "config_hash")}))
    assert_one_line_error(evaluate_cli(ours, data, tmp_path), "re-export", "--from-config")
    assert not (ours / "report.json").exists()


def test_an_untouched_export_evaluates_and_reports_its_model_hashes(two_exports, tmp_path: Path) -> None:
    data, ours, _ = two_exports
    result = evaluate_cli(ours, data, tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((ours / "report.json").read_text())
    assert report["model_sha256"] == json.loads((ours / "retrain.json").read_text())["model_sha256"]
