"""What a run prints: the live view with an ETA on a terminal; off it, one line per finished trial
and a status line a minute, as text or JSON. Real studies in real stores; the training is stubbed
only where the log, not the training, is under test."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from search.study.settings import StudySettings
from search.ui.display import LiveDisplay, TrialLog, open_display
from search.ui.progress import eta_seconds, render_live, take_snapshot
from spaces.space import load_space
from tests.search.cli_helpers import invoke
from tests.search.stub_start import use_stub_training

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = StudySettings(space=load_space("dense"), max_epochs=3, n_trials=4)


def _finished(study: optuna.Study, value: float, state: TrialState = TrialState.COMPLETE, worker: int = 0) -> None:
    """A trial of 5 s wall time (4.25 s of it training), as a worker would have stored it."""
    trial = create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params={"units": 64},
        distributions={"units": IntDistribution(8, 512)},
        intermediate_values={1: value / 2, 2: value},
        user_attrs={"epochs_run": 2, "train_seconds": 4.25, "worker_id": worker, "device": "cpu"},
    )
    assert trial.datetime_complete is not None
    trial.datetime_start = trial.datetime_complete - timedelta(seconds=5)
    study.add_trial(trial)


def _log(study: optuna.Study, as_json: bool = False, **options) -> tuple[TrialLog, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=40)  # narrower than any line: nothing may wrap
    return TrialLog(console, study, SETTINGS, time.time(), None, 1, as_json, **options), out


def test_off_a_terminal_each_finished_trial_is_one_line_and_older_trials_are_not_repeated() -> None:
    study = optuna.create_study(direction="maximize")
    _finished(study, 0.5)  # from an earlier run
    log, out = _log(study)
    with log:
        _finished(study, 0.81)
        _finished(study, 0.7, TrialState.PRUNED, worker=1)
        log.refresh()
        log.refresh()  # nothing new: nothing written
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert "trial 1 complete" in lines[0] and "val acc 81.00 %" in lines[0] and "epochs 2/3" in lines[0]
    assert "4.2 s" in lines[0] or "4.3 s" in lines[0]
    assert "worker 0" in lines[0] and "units=64" in lines[0]
    assert "trial 2 pruned" in lines[1] and "val acc 70.00 %" in lines[1] and "worker 1" in lines[1]
    assert (
        " end " in lines[2]
        and "finished 3/4 (complete 2, pruned 1, failed 0)" in lines[2]
        and "best 81.00 % (trial 1)" in lines[2]
    )


def test_json_lines_parse_and_carry_the_trial_and_the_study() -> None:
    study = optuna.create_study(direction="maximize")
    log, out = _log(study, as_json=True)
    with log:
        _finished(study, 0.8)
        log.refresh()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["trial", "end"]
    trial, end = events
    assert trial["number"] == 0 and trial["state"] == "complete" and trial["val_accuracy"] == 0.8
    assert (
        trial["epochs"] == 2 and trial["seconds"] == 4.2 and trial["worker"] == 0 and trial["params"] == {"units": 64}
    )
    assert end["finished"] == 1 and end["budget"] == 4 and end["best_trial"] == 0 and end["eta_seconds"] is not None


def test_status_lines_come_by_the_clock_without_any_refresh() -> None:
    study = optuna.create_study(direction="maximize")
    log, out = _log(study, status_seconds=0.1)
    with log:
        _finished(study, 0.6)
        time.sleep(0.5)
    lines = out.getvalue().splitlines()
    status = [line for line in lines if " status " in line]
    assert len(status) >= 2, lines
    assert sum("trial 0 complete" in line for line in lines) == 1  # the ticker logs the trial once, too


def test_only_this_runs_workers_trials_are_logged() -> None:
    study = optuna.create_study(direction="maximize")
    log, out = _log(study, worker_ids={0})
    with log:
        _finished(study, 0.6, worker=0)
        _finished(study, 0.7, worker=1004)  # a worker on another machine, with its own log
        log.refresh()
    text = out.getvalue()
    assert "trial 0 complete" in text and "trial 1 " not in text and "finished 2/4" in text


def test_a_terminal_gets_the_live_view_a_pipe_the_log_and_json_always_json() -> None:
    study = optuna.create_study(direction="maximize")
    terminal = Console(file=io.StringIO(), force_terminal=True)
    pipe = Console(file=io.StringIO())
    assert isinstance(open_display(terminal, study, SETTINGS, time.time(), None, 1), LiveDisplay)
    assert isinstance(open_display(pipe, study, SETTINGS, time.time(), None, 1), TrialLog)
    assert isinstance(open_display(terminal, study, SETTINGS, time.time(), None, 1, "text"), TrialLog)
    assert open_display(terminal, study, SETTINGS, time.time(), None, 1, "json")._as_json  # type: ignore[attr-defined]


def test_eta_is_the_trials_left_times_the_mean_trial_time_shared_by_the_workers() -> None:
    study = optuna.create_study(direction="maximize")
    assert eta_seconds(take_snapshot(study, SETTINGS), 2, None, time.time()) is None  # no trial timed yet
    _finished(study, 0.8)
    snapshot = take_snapshot(study, SETTINGS)
    assert snapshot.mean_trial_seconds == 5.0
    assert eta_seconds(snapshot, 2, None, 0.0) == 3 * 5.0 / 2  # 3 trials left, 2 workers
    assert eta_seconds(snapshot, 1, 100.0, 10.0) == 15.0  # the budget ends first
    assert eta_seconds(snapshot, 1, 10.5, 10.0) == 0.5  # the deadline ends first
    unbounded = StudySettings(space=SETTINGS.space)
    assert eta_seconds(take_snapshot(study, unbounded), 1, None, 0.0) is None
    console = Console(file=io.StringIO(), width=200)
    console.print(render_live(snapshot, time.time(), None, workers=1))
    assert "eta 0:00:15" in console.file.getvalue()  # type: ignore[attr-defined]
    assert "best val acc 80.00 %" in console.file.getvalue()  # type: ignore[attr-defined]  # percent, as in every table


def test_start_off_a_terminal_logs_every_trial(tiny_data_dir, tmp_path: Path, monkeypatch) -> None:
    use_stub_training(monkeypatch)
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke(
        "start",
        "--space",
        "dense",
        "--trials",
        "3",
        "--epochs",
        "1",
        "--data-dir",
        str(tiny_data_dir()),
        "--storage",
        url,
    )
    assert result.exit_code == 0, result.output
    assert sum(" complete  val acc " in line or " pruned  val acc " in line for line in result.output.splitlines()) == 3
    assert "finished 3/3" in result.output
    # The CLI, not the engine, names the next command.
    assert result.stdout.splitlines()[-1] == f"see all trials: fmnist-search status --study dense --storage '{url}'"


def test_json_log_keeps_stdout_for_json_alone(tiny_data_dir, tmp_path: Path, monkeypatch) -> None:
    use_stub_training(monkeypatch)
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke("start", "--space", "dense", "--trials", "2", "--epochs", "1", "--log-format", "json",
                    "--data-dir", str(tiny_data_dir()), "--storage", url)  # fmt: skip
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [e["event"] for e in events] == ["trial", "trial", "end"]
    assert "starting study dense" in result.stderr
    assert "see all trials: fmnist-search status --study dense" in result.stderr


def test_a_piped_start_with_two_workers_logs_trials_while_it_runs(tmp_path: Path, tiny_data_dir) -> None:
    """The real command in its own process, stdout a pipe as under nohup: lines come as trials end."""
    env = {**os.environ, "FMNIST_STUB_EPOCH_SECONDS": "0.3", "FMNIST_STATUS_INTERVAL": "1"}
    stub = "tests.stub_worker:factory_from_env"  # bench/with_objective.py: the real CLI, stub training
    command = [sys.executable, "-m", "bench.with_objective", stub, "start", "--space", "dense", "--trials", "6",
               "--epochs", "2", "--workers", "2", "--data-dir", str(tiny_data_dir()),
               "--storage", f"sqlite:///{tmp_path / 's.db'}"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    running_when_first_trial_logged = None
    for line in process.stdout:
        lines.append(line)
        if running_when_first_trial_logged is None and " trial " in line:
            running_when_first_trial_logged = process.poll() is None
    assert process.wait(timeout=120) == 0, "".join(lines) + process.stderr.read()  # type: ignore[union-attr]
    assert running_when_first_trial_logged, lines
    trial_lines = [line for line in lines if " trial " in line]
    assert len(trial_lines) >= 6 and {"worker 0", "worker 1"} <= {
        w for line in trial_lines for w in ("worker 0", "worker 1") if w in line
    }
    assert any(" status " in line for line in lines) and "finished 6/6" in lines[-3] + lines[-2] + lines[-1]


class RecordingView:
    """A RunView of a Python caller's own: lines and display events as data, no console anywhere."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.refreshes = 0

    def headline(self, verb: str, study_name: str, rest: str) -> None:
        self.lines.append(f"{verb} {study_name}{rest}")

    def say(self, text: str, *, dim: bool = False) -> None:
        self.lines.append(text)

    def open_display(self, study, settings, started, deadline, workers, worker_ids):  # type: ignore[no-untyped-def]
        view = self

        class Display:
            def __enter__(self):  # type: ignore[no-untyped-def]
                return self

            def __exit__(self, *_: object) -> None:
                return None

            def refresh(self) -> None:
                view.refreshes += 1

        return Display()


def test_the_engines_speak_only_through_the_view_they_are_given(
    tiny_data_dir, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from search.engines.launch import start_study

    use_stub_training(monkeypatch)
    view = RecordingView()
    options = {"timeout": None, "max_epochs": 1, "subset": None, "seed": 0, "sampler": None, "pruner": None}
    study = start_study(
        view, space="dense", study_name="viewed", workers=1, n_trials=2, storage_url=f"sqlite:///{tmp_path / 's.db'}",
        data_dir=str(tiny_data_dir()), verbose=False, **options,
    )  # fmt: skip
    assert len(study.trials) >= 2 and view.refreshes >= 2
    assert view.lines[0].startswith("starting viewed: space 'dense'")
    assert not any("fmnist-search" in line for line in view.lines)  # CLI commands are the CLI's to print
    assert capsys.readouterr().out == ""  # nothing went around the view to a console
