"""Random combinations of options and values thrown at `start`: it runs, or ends in one line and a non-zero exit.

In-process, with the stub trainer (tests/search/stub_start.py): the CLI, option checks, data
loading, store, budget and worker cap are real; only the training is a stub.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.search.cli_helpers import invoke
from tests.search.stub_start import use_stub_training

SPACE_FILES = {
    "tiny.toml": 'name = "tiny"\nmodel = "dense"\n[params]\nunits = [8, 16]\nn_layers = 1\n',
    "monster.toml": (
        'model = "cnn"\n[params]\n'
        "conv_blocks = 4\nconvs_per_block = 4\nfilters = 1024\nkernel_size = 7\ndense_units = 8192\n"
    ),
    "broken.toml": "model = \n",
    "pathname.toml": 'name = "../../x"\nmodel = "dense"\n',
    "bad.yaml": "model: cnn\nparams:\n  filters: {type: int, low: 64, high: 16}\n",
}


def _option(valid: tuple[str, ...], invalid: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Mostly a valid value (so that many combinations get as far as running), sometimes not."""
    return st.integers(0, 9).flatmap(lambda k: st.sampled_from(invalid if k < 2 or not valid else valid))


OPTIONS = {
    "--space": _option(
        ("dense", "cnn", "tiny.toml"),
        (
            "resnet",
            "",
            "monster.toml",
            "broken.toml",
            "pathname.toml",
            "bad.yaml",
            "missing.toml",
            "folder.toml",
            "folder",
        ),
    ),
    "--study": _option(("ok-name", "dense", "run_2.1"), ("../x", ".hidden", "a b", "", "x" * 65)),
    "--workers": _option(("1", "2", "3", "16"), ("-1", "0", "abc", "1.5")),
    "--trials": _option(("1", "2", "3"), ("-1", "0", "x")),
    "--timeout": _option(("1",), ("-3", "0", "soon", "nan")),
    "--epochs": _option(("1", "2"), ("0", "-5", "1e3")),
    "--subset": _option(("10", "50"), ("5", "100000", "ten")),
    "--seed": _option(("0", "7", "2147483647"), ("-1", "2147483648", "4294967295", "99999999999999999999")),
    "--sampler": _option(("tpe", "random"), ("gp", "nope", "")),  # gp needs PyTorch, absent here: a one-line error
    "--pruner": _option(("hyperband", "median", "sha", "none"), ("bad",)),
    "--gpus": _option((), ("0", "", "a", "0,,1", "-1", "99")),  # no GPU on the test machine: only errors
    "--warm-start": _option(("seeds",), ("x",)),
    "--engine": _option(("optuna",), ("ray", "")),
    "--max-params": _option(("100000000", "1000000000000"), ("0", "1000", "-1")),
    "--no-such-option": _option((), ("3",)),
}
OPTIONAL = sorted(set(OPTIONS) - {"--space"})


# The fixture's folder, made once for all examples of one test run.
_TINY_DATA: dict[int, Path] = {}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    chosen=st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=6).flatmap(
        lambda keys: st.fixed_dictionaries({key: OPTIONS[key] for key in ["--space", *keys]})
    )
)
def test_start_runs_or_ends_in_one_line(tiny_data_dir, monkeypatch: pytest.MonkeyPatch, chosen: dict[str, str]) -> None:
    use_stub_training(monkeypatch)
    data_dir = _TINY_DATA.get(id(tiny_data_dir)) or _TINY_DATA.setdefault(id(tiny_data_dir), tiny_data_dir())
    with tempfile.TemporaryDirectory() as work:
        for name, text in SPACE_FILES.items():
            (Path(work) / name).write_text(text)
        (Path(work) / "folder.toml").mkdir()
        (Path(work) / "folder").mkdir()
        args = ["start"]
        for option, value in chosen.items():
            if option == "--space" and value not in ("dense", "cnn", "resnet", ""):
                value = str(Path(work) / value)
            args += [option, value]
        if "--trials" not in chosen and "--timeout" not in chosen:
            args += ["--trials", "2"]  # the stub trains instantly: an unbounded study would never end
        args += ["--storage", f"sqlite:///{Path(work) / 'store.db'}", "--data-dir", str(data_dir)]
        result = invoke(*args)  # an exception other than SystemExit fails the test with its traceback
        assert "Traceback" not in result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        event("ran" if result.exit_code == 0 else f"refused: {lines[0][:40] if lines else '?'}")
        if result.exit_code == 0:
            return
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.stderr)
