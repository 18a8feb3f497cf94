"""The Python API from a plain script, as an Optuna user runs it: twice in a row, ``n_trials`` more each time.

The script runs in a subprocess of its own with stub training in the worker (set through the
objective seam, search/engines/interface.py; the store, budget and trials stay real), so what it
prints is exactly what a user would see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import search
from search.engines import interface

interface.OBJECTIVE_FACTORY = "tests.stub_worker:factory_from_env"  # the test's seam: stub training

url, data, out = sys.argv[1:4]
calls = []
for quiet in (True, True, False):
    study = search.run_study(
        "dense", study="api-probe", n_trials=3 if quiet else 1, epochs=1, storage=url, data_dir=data,
        pruner="none", log_format="text", quiet=quiet,
    )
    frame = study.trials_dataframe()
    finished = frame[frame["state"].isin(["COMPLETE", "PRUNED"])]
    calls.append({"finished": len(finished), "values": finished[["value"]]["value"].tolist()})
    print(f"--- call {len(calls)} returned", flush=True)
    print(f"--- call {len(calls)} returned", file=sys.stderr, flush=True)
with open(out, "w") as file:
    json.dump(calls, file)
"""


def test_a_script_calling_the_api_twice_runs_n_more_trials_each_time(tiny_data_dir, tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    out = tmp_path / "calls.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FMNIST_STUB_EPOCH_SECONDS": "0",
    }
    url = f"sqlite:///{tmp_path / 'api.db'}"
    done = subprocess.run(
        [sys.executable, str(script), url, str(tiny_data_dir()), str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    first, second, third = json.loads(out.read_text())
    # n_trials means "this many more", as in Optuna's optimize: 3, then 3 more, then 1 more.
    assert (first["finished"], second["finished"], third["finished"]) == (3, 6, 7)
    # The objective's column is Optuna's plain `value`.
    assert len(third["values"]) == 7 and all(0.0 < v < 1.0 for v in third["values"])
    for stream in (done.stdout, done.stderr):
        quiet_part, loud_part = stream.split("--- call 2 returned\n")
        # quiet=True: nothing at all but the script's own markers.
        assert quiet_part == "--- call 1 returned\n", stream
        # Not quiet: the run shows itself, but names no CLI command.
        assert "fmnist-search" not in loud_part, stream
    assert "resuming study api-probe" in done.stdout.split("--- call 2 returned\n")[1]
