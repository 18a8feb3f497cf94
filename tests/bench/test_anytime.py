"""bench.anytime: the figures it prints (pure) and one tiny end-to-end run of all three tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.anytime import (
    ONE_THREAD,
    checkpoints,
    command,
    merge_results,
    render,
    rotated,
    run_entry,
    runs_from_json,
    schedule,
    summarise,
    tool_env,
)
from bench.figures import anytime_figures, best_so_far, mean_or_none
from bench.studies import SearchRun, TrialRecord

ROOT = Path(__file__).resolve().parents[2]


def run(label: str, *trials: tuple[float | None, float]) -> SearchRun:
    """A search whose complete (value) or pruned (None) trials ended at the given seconds."""
    records = tuple(TrialRecord(i, "PRUNED" if v is None else "COMPLETE", v, 1, at) for i, (v, at) in enumerate(trials))
    return SearchRun(label, records, 100.0)


def test_best_so_far_counts_only_trials_ended_by_each_checkpoint() -> None:
    search = run("a", (0.80, 10.0), (None, 20.0), (0.85, 50.0), (0.83, 60.0))
    assert best_so_far(search, [5.0, 10.0, 49.0, 50.0, 100.0]) == [None, 0.80, 0.80, 0.85, 0.85]


def test_a_mean_over_seeds_is_missing_when_any_seed_has_nothing_yet() -> None:
    assert mean_or_none([0.8, None]) is None
    assert mean_or_none([0.8, 0.9]) == pytest.approx(0.85)


def test_time_to_reach_the_other_tool_is_a_ratio_per_seed_and_never_beyond_the_budget() -> None:
    runs = {
        "ours": [run("o0", (0.86, 30.0), (0.90, 80.0)), run("o1", (0.88, 20.0))],
        "theirs": [run("t0", (0.86, 60.0)), run("t1", (0.87, 40.0), (0.89, 90.0))],
    }
    figures = anytime_figures(runs, {"ours": [5, 4], "theirs": [3, 2]}, [50.0, 100.0])
    # seed 0: ours reached their 0.86 at 30 s, they at 60 s (x0.5); seed 1: ours never reached 0.89
    assert figures["reach"]["ours"]["theirs"] == {"targets": [0.86, 0.89], "seconds": [30.0, None], "ratio": None}
    assert figures["reach"]["theirs"]["ours"]["seconds"] == [None, 90.0]  # their 0.89 at 90 s beat our 0.88
    assert figures["tools"]["ours"]["curve"] == [pytest.approx(0.87), pytest.approx(0.89)]
    assert figures["tools"]["theirs"]["final_best"] == [0.86, 0.89]
    one_seed = anytime_figures({k: v[:1] for k, v in runs.items()}, {"ours": [5], "theirs": [3]}, [50.0, 100.0])
    assert one_seed["reach"]["ours"]["theirs"]["ratio"] == pytest.approx(0.5)


def test_checkpoints_stop_at_the_budget() -> None:
    assert checkpoints(15) == [60.0, 120.0, 300.0, 600.0, 900.0]
    assert checkpoints(3) == [60.0, 120.0, 180.0]


def test_only_fmnist_search_picks_its_backend_the_other_tools_run_keras_default() -> None:
    user = {"KERAS_BACKEND": "jax", "PATH": "/bin"}
    assert "KERAS_BACKEND" not in tool_env("fmnist-search", user) and tool_env("fmnist-search", user)["PATH"] == "/bin"
    for tool in ("keras-tuner", "plain-optuna", "default-only", "fmnist-search-tensorflow"):
        assert tool_env(tool, user)["KERAS_BACKEND"] == "tensorflow"
    assert "KERAS_BACKEND" not in tool_env("fmnist-search-tpe", user)
    args = type("Args", (), {"minutes": 1.0, "epochs": 2, "subset": None, "data_dir": None})()
    pinned, ours = (
        command("fmnist-search-tensorflow", "dense", 0, args, "sqlite://"),
        command("fmnist-search", "dense", 0, args, "sqlite://"),
    )
    assert pinned == ours  # the same command; only the environment differs
    assert "--default-only" in command("default-only", "dense", 0, args, "sqlite://")
    assert command("fmnist-search-tpe", "dense", 0, args, "sqlite://") == [*ours[:-6], "--sampler", "tpe", *ours[-6:]]


def test_under_parallel_every_tool_gets_one_thread_and_the_pairs_change_with_the_seed() -> None:
    for tool in ("fmnist-search", "default-only", "keras-tuner", "plain-optuna"):
        env = tool_env(tool, {"PATH": "/bin", "OMP_NUM_THREADS": "8"}, one_core=True)
        assert {k: env[k] for k in ONE_THREAD} == ONE_THREAD
        assert tool_env(tool, {"OMP_NUM_THREADS": "8"})["OMP_NUM_THREADS"] == "8"  # one at a time: untouched
    tools = ["a", "b", "c", "d"]
    jobs = schedule(tools, [0, 1, 2])
    pairs = [frozenset(t for t, _ in jobs[i : i + 2]) for i in range(0, len(jobs), 2)]
    assert len(set(pairs)) > 2  # not always the same two tools side by side
    assert sorted(jobs) == sorted((t, s) for t in tools for s in (0, 1, 2))


META = {"family": "dense", "minutes": 2.0, "max_epochs": 20, "subset": None, "cpu": "test CPU", "cores": 2}


def entry(seed: int, *trials: tuple[float | None, float]) -> dict:
    return run_entry(seed, run(f"s{seed}", *trials), epochs=len(trials), load=(1.0, 2.0))


def test_the_tools_rotate_with_the_seed_itself_so_a_seed_runs_in_the_same_order_in_any_invocation() -> None:
    tools = ["a", "b", "c"]
    assert [rotated(tools, seed)[0] for seed in (0, 1, 2, 3)] == ["a", "b", "c", "a"]
    assert sorted(rotated(tools, 5)) == tools


def test_figures_cover_only_the_seeds_that_every_tool_has_run() -> None:
    results = summarise(META, {"x": [entry(0, (0.8, 10.0)), entry(1, (0.9, 10.0))], "y": [entry(0, (0.7, 10.0))]})
    assert results["seeds"] == [0]
    assert results["figures"]["tools"]["x"]["final_best"] == [0.8]  # seed 1 waits for y's run
    assert [e["seed"] for e in results["runs"]["x"]] == [0, 1]  # but is kept in the file
    assert results["epochs"] == {"x": [1], "y": [1]}


def test_merging_runs_from_two_sessions_gives_the_figures_of_one_run_of_all_seeds() -> None:
    first = summarise(META, {"x": [entry(0, (0.8, 10.0)), entry(1, (0.9, 10.0))], "y": [entry(0, (0.7, 10.0))]})
    later = summarise(META, {"y": [entry(1, (0.95, 30.0))]})
    merged = merge_results([first, later])
    at_once = summarise(
        META,
        {"x": [entry(0, (0.8, 10.0)), entry(1, (0.9, 10.0))], "y": [entry(0, (0.7, 10.0)), entry(1, (0.95, 30.0))]},
    )
    assert merged["seeds"] == [0, 1]
    assert merged["figures"] == at_once["figures"]


def test_merging_refuses_different_comparisons_and_a_seed_run_twice() -> None:
    one = summarise(META, {"x": [entry(0, (0.8, 10.0))]})
    with pytest.raises(ValueError, match="different minutes"):
        merge_results([one, summarise({**META, "minutes": 15.0}, {"x": [entry(1, (0.8, 10.0))]})])
    with pytest.raises(ValueError, match="x ran seed 0 in more than one file"):
        merge_results([one, one])
    with pytest.raises(ValueError, match="different parallel"):
        merge_results([one, summarise({**META, "parallel": 2}, {"x": [entry(1, (0.8, 10.0))]})])


def test_a_results_file_from_before_runs_carried_their_seed_still_reads_and_merges() -> None:
    old = json.loads((ROOT / "bench" / "anytime-dense-10min.json").read_text())
    assert "seed" not in old["runs"]["fmnist-search"][0]
    assert (
        json.loads(json.dumps(anytime_figures(runs_from_json(old), old["epochs"], checkpoints(old["minutes"]))))
        == old["figures"]
    )
    merged = merge_results([old])
    assert merged["seeds"] == old["seeds"]
    assert json.loads(json.dumps(merged["figures"])) == old["figures"]


@pytest.mark.slow
def test_all_four_tools_run_two_at_a_time_and_the_results_render(real_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "anytime.json"
    command = [sys.executable, "-m", "bench.anytime", "--minutes", "0.4", "--epochs", "2", "--subset", "300",
               "--seeds", "0", "--parallel", "2", "--data-dir", str(real_data_dir), "--out", str(out)]  # fmt: skip
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "on core 1" in finished.stdout
    results = json.loads(out.read_text())
    assert results["parallel"] == 2
    assert set(results["runs"]) == {"fmnist-search", "default-only", "keras-tuner", "plain-optuna"}
    defaults = [t for t in results["runs"]["default-only"][0]["trials"]]
    assert defaults and all(t["state"] == "COMPLETE" and t["epochs"] == 2 for t in defaults)
    for tool, tool_runs in results["runs"].items():
        assert tool_runs[0]["trials"], f"{tool} finished no trial"
        assert all(t["finished_s"] <= 0.4 * 60 + 240 for t in tool_runs[0]["trials"])
    assert [e["seed"] for e in results["runs"]["keras-tuner"]] == [0]
    assert results["figures"] == json.loads(
        json.dumps(anytime_figures(runs_from_json(results), results["epochs"], checkpoints(0.4)))
    )
    assert "| fmnist-search |" in render(results)


def test_default_only_runs_of_different_seeds_share_no_model() -> None:
    from bench.plain_optuna import model_seed

    runs = [{model_seed(seed, k, default_only=True) for k in range(200)} for seed in (0, 1, 2)]
    assert not (runs[0] & runs[1]) and not (runs[1] & runs[2])
    assert model_seed(0, 0, default_only=True) == 0  # seed 0's first model is fmnist-search's first trial's
    assert model_seed(1, 3, default_only=False) == 4  # the plain loop seeds as fmnist-search does
