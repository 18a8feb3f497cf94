"""The Python API: search, export, evaluate from Python on tiny real-format data, and the CLI built on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import search
from search import api
from spaces.params import SpaceError
from tests.search.cli_helpers import invoke

ROOT = Path(__file__).resolve().parents[2]


def test_import_search_stays_cheap() -> None:
    """Worker processes and scripts import the package: no Optuna, Keras or TensorFlow until used."""
    code = (
        "import sys, search; "
        "print(sorted(m for m in ('optuna', 'keras', 'tensorflow', 'sqlalchemy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
    assert search.run_study is api.run_study and search.evaluate is api.evaluate


@pytest.mark.slow
def test_search_export_evaluate_from_python(tiny_data_dir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tiny_data_dir()
    url = f"sqlite:///{tmp_path / 'api.db'}"
    study = search.run_study("dense", study="from-python", trials=2, epochs=1, storage=url, data_dir=data, seed=1)
    assert isinstance(study, optuna.Study) and study.study_name == "from-python"
    finished = [
        t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert len(finished) == 2
    frame = study.trials_dataframe()  # pandas
    assert len(frame) == 2 and "params_units" in frame.columns and "user_attrs_epochs_run" in frame.columns

    folder = search.export_best(study, out=tmp_path, repeats=1, data_dir=data)
    assert folder == tmp_path / "exports" / f"from-python-{study.best_trial.number}"
    assert (folder / "config.json").is_file() and list(folder.glob("model-*.keras"))

    evaluation = search.evaluate(folder, storage=url, data_dir=data)
    assert 0.0 <= evaluation.test_accuracy <= 1.0
    assert evaluation.test_accuracy == evaluation.report["test_accuracy"]["mean"]
    assert (folder / "report.json").is_file()
    shown = capsys.readouterr()
    assert "test accuracy" in shown.out and "fmnist-search" not in shown.out + shown.err  # no CLI commands from Python
    assert frame is not None and "value" in study.trials_dataframe().columns  # Optuna's plain objective column


def test_resume_and_bad_input_from_python(tiny_data_dir, tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="unknown space 'resnet'"):
        search.run_study("resnet", storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert not (tmp_path / "x.db").exists()
    assert search.load_space("cnn").model == "cnn"
    with pytest.raises(ValueError, match="repeats"):
        search.export_best("anything", repeats=0)


def test_the_cli_is_a_layer_over_the_api(monkeypatch) -> None:
    calls: list[tuple[str, tuple, dict]] = []
    for name in ("run_study", "export_best", "evaluate"):
        monkeypatch.setattr(api, name, lambda *args, _name=name, **kwargs: calls.append((_name, args, kwargs)))
    assert invoke("start", "--space", "cnn", "--trials", "3", "--subset", "100").exit_code == 0
    assert invoke("export", "--study", "cnn", "--repeats", "2").exit_code == 0
    assert invoke("export", "--space", "dense").exit_code == 0  # a study named after its space
    assert invoke("evaluate", "exports/cnn-1").exit_code == 0
    (start_name, start_args, start_kwargs), export_study, export_space, evaluated = calls
    assert (
        start_name == "run_study"
        and start_args == ("cnn",)
        and start_kwargs["trials"] == 3
        and start_kwargs["subset"] == 100
    )
    assert start_kwargs["epochs"] is None  # not given: a resumed study keeps its own
    assert export_study[:2] == ("export_best", ("cnn",)) and export_study[2]["repeats"] == 2
    assert export_space[1] == ("dense",)
    assert evaluated[:2] == ("evaluate", ("exports/cnn-1",))
