"""The GPU campaign: ``python -m bench.gpu [--dry] [--part NAME ...] [--out FILE]``, each part under 9 minutes on an H100.

Parts (all by default):
  epoch-time  seconds per epoch of the default dense and CNN models, 55,000 images, one worker;
  scaling     epochs per second summed over 1, 2, 4 and 8 workers sharing GPU 0 (default CNN;
              bench/parallel.py's measure: epochs trained / span of the trials), goal 4 ≥ 2.5 × 1;
  search      ``fmnist-search start --space cnn --workers 4`` for a fixed wall-clock budget, the
              best validation accuracy by time, goal ≥ 0.93 within 10 minutes.
Each measurement runs in its own processes, configured as a worker is (search.runtime.devices), while
nvidia-smi samples GPU utilisation and memory every 500 ms (part c of the issue).

``--dry`` runs every part with tiny sizes on whatever is there (the CPU under JAX, in a few
minutes): it checks the campaign, its figures mean nothing. Without it, a run with no GPU visible
to the backend stops at once. Results go to ``--out`` as JSON; ``--render FILE ...`` merges such
files (e.g. the two device calls' results) into the GPU section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench-gpu:begin -->", "<!-- bench-gpu:end -->"
PARTS = ("epoch-time", "scaling", "search")
SMI_QUERY = "index,utilization.gpu,memory.used,memory.total"
SCALING_GOAL = 2.5  # 4 workers' epochs/s over 1 worker's
SEARCH_GOAL = 0.93  # best validation accuracy
SEARCH_GOAL_S = 600


@dataclass(frozen=True)
class Sizes:
    """How big each part is: the full campaign for a GPU, or a dry run that only checks it works."""

    epoch_subset: int | None  # None: all 55,000 train images
    epoch_epochs: int
    scaling_workers: tuple[int, ...]
    scaling_subset: int | None
    scaling_epochs: int
    search_workers: int
    search_seconds: int  # the run's --timeout
    search_args: tuple[str, ...]  # extra `start` options


FULL = Sizes(None, 4, (1, 2, 4, 8), None, 5, 4, 450, ())
DRY = Sizes(600, 2, (1, 2), 300, 1, 2, 45, ("--subset", "200", "--epochs", "2"))


# ---------------------------------------------------------------- (c) nvidia-smi


def parse_smi(text: str) -> list[dict[str, float]]:
    """Rows of ``nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits``."""
    samples = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != 4:
            continue
        try:
            index, utilisation, used, total = (float(cell) for cell in cells)
        except ValueError:
            continue  # "[N/A]", a header, a line cut off by the stop
        samples.append(
            {"gpu": index, "utilisation_pct": utilisation, "memory_used_mib": used, "memory_total_mib": total}
        )
    return samples


def summarise_smi(samples: list[dict[str, float]]) -> dict[str, Any]:
    """Mean and peak utilisation, peak memory: over all samples of GPU 0 (the one the campaign uses)."""
    gpu0 = [s for s in samples if s["gpu"] == 0]
    if not gpu0:
        return {"samples": 0}
    utilisation = [s["utilisation_pct"] for s in gpu0]
    return {
        "samples": len(gpu0),
        "utilisation_mean_pct": round(sum(utilisation) / len(utilisation), 1),
        "utilisation_max_pct": max(utilisation),
        "memory_used_max_mib": max(s["memory_used_mib"] for s in gpu0),
        "memory_total_mib": gpu0[0]["memory_total_mib"],
    }


@contextlib.contextmanager
def gpu_monitor(summary: dict[str, Any]) -> Iterator[None]:
    """Sample nvidia-smi every 500 ms during the block; fill ``summary`` at its end (or say why there is nothing)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        summary["nvidia_smi"] = "not found: no figures"
        yield
        return
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([smi, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits", "-lms", "500"],
                                   stdout=log, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)
            log.seek(0)
            summary["nvidia_smi"] = summarise_smi(parse_smi(log.read()))


# ---------------------------------------------------------------- the environment


def _probe_backend(env: dict[str, str]) -> dict[str, Any]:
    """In a child configured as worker 0: the backend, what it trains on, its versions (the parent stays off the GPU)."""
    os.environ.update(env)
    from search.runtime.quiet import import_keras

    keras = import_keras()
    from search.runtime.devices import describe_device

    info: dict[str, Any] = {"backend": keras.backend.backend(), "device": describe_device(), "keras": keras.__version__}
    if info["backend"] == "jax":
        import jax

        info |= {"jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
    return info


def _in_child(function: Any, *args: Any) -> Any:
    """Run ``function(*args)`` in a fresh spawned process (its own backend, its own GPU memory) and return its result."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def environment(gpus: list[str]) -> dict[str, Any]:
    from search.runtime.devices import worker_environment

    listing = (
        subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
        if shutil.which("nvidia-smi")
        else ""
    )
    versions = {}
    for name in ("optuna", "numpy", "jaxlib", "torch", "tensorflow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "gpus": listing.strip().splitlines() or "none",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        **_in_child(_probe_backend, worker_environment(0, 1, gpus, os.cpu_count() or 1)),
    }


# ---------------------------------------------------------------- (a) epoch time and scaling


def _epoch_seconds(env: dict[str, str], family: str, subset: int | None, epochs: int) -> dict[str, Any]:
    """In a child configured as worker 0: train the family's default model, timing each epoch (validation included)."""
    os.environ.update(env)
    from search.runtime.quiet import import_keras

    keras = import_keras()
    from bench.epoch_time import epoch_timer
    from search.data.loader import load_train_val
    from search.runtime.choice import compile_options
    from search.runtime.devices import apply_backend_limits
    from spaces.builders import build_model
    from spaces.families import defaults

    apply_backend_limits()
    data = load_train_val(None, subset)
    params = defaults(family)
    keras.utils.set_random_seed(0)
    model = build_model(family, params, compile_options=compile_options(family))
    timer = epoch_timer(keras)
    history = model.fit(data.x_train, data.y_train, batch_size=params["batch_size"], epochs=epochs,
                        validation_data=(data.x_val, data.y_val), callbacks=[timer], verbose=0)  # fmt: skip
    steady = sorted(timer.epoch_s[1:]) or timer.epoch_s
    return {
        "train_images": len(data.x_train), "batch_size": params["batch_size"], "params": model.count_params(),
        "epoch_s": [round(s, 3) for s in timer.epoch_s], "val_s": [round(s, 3) for s in timer.val_s],
        "steady_epoch_s": round(steady[len(steady) // 2], 3), "val_accuracy": history.history["val_accuracy"],
    }  # fmt: skip


def part_epoch_time(sizes: Sizes, gpus: list[str]) -> dict[str, Any]:
    from search.runtime.devices import worker_environment

    env = worker_environment(0, 1, gpus, os.cpu_count() or 1)
    result: dict[str, Any] = {}
    for family in ("dense", "cnn"):
        figures: dict[str, Any] = {}
        with gpu_monitor(figures):
            figures |= _in_child(_epoch_seconds, env, family, sizes.epoch_subset, sizes.epoch_epochs)
        result[family] = figures
        print(f"  {family}: {figures['epoch_s']} s per epoch", flush=True)
    return result


def part_scaling(sizes: Sizes, gpus: list[str]) -> dict[str, Any]:
    from bench.parallel import epochs_per_second

    rates: dict[str, Any] = {}
    for n in sizes.scaling_workers:
        figures: dict[str, Any] = {}
        with gpu_monitor(figures):
            figures["epochs_per_s"] = round(
                epochs_per_second(n, sizes.scaling_subset or 55_000, sizes.scaling_epochs, 1, gpus, "cnn"), 3
            )
        rates[str(n)] = figures
        print(f"  {n} worker(s): {figures['epochs_per_s']} epochs/s", flush=True)
    one = rates[str(sizes.scaling_workers[0])]["epochs_per_s"]
    return {
        "model": "default cnn", "epochs_per_trial": sizes.scaling_epochs, "train_images": sizes.scaling_subset or 55_000,
        "workers": rates, "speedup": {n: round(r["epochs_per_s"] / one, 2) for n, r in rates.items()},
    }  # fmt: skip


# ---------------------------------------------------------------- (b) a timed search


def best_by_time(trials: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(seconds, value) of complete trials, in any order -> the points where the best so far went up."""
    curve: list[tuple[float, float]] = []
    for seconds, value in sorted(trials):
        if not curve or value > curve[-1][1]:
            curve.append((round(seconds, 1), round(value, 4)))
    return curve


def part_search(sizes: Sizes, gpus: list[str]) -> dict[str, Any]:
    import optuna

    from storage import open_storage

    with tempfile.TemporaryDirectory(prefix="fmnist-gpu-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'gpu.db'}"
        command = [sys.executable, "-m", "search", "start", "--space", "cnn", "--study", "gpu-cnn", "--storage", url,
                   "--workers", str(sizes.search_workers), "--timeout", str(sizes.search_seconds), *sizes.search_args]  # fmt: skip
        if gpus:
            command += ["--gpus", ",".join(gpus)]
        env = os.environ | {
            "FMNIST_SEARCH_HOME": tmp,
            "FMNIST_ARTIFACTS": str(Path(tmp) / "artifacts"),
            "COLUMNS": "100",
        }
        figures: dict[str, Any] = {
            "command": " ".join(["fmnist-search", *command[3:]]).replace(url, "<temporary sqlite>")
        }
        started = time.time()
        with gpu_monitor(figures):
            run = subprocess.run(command, env=env, capture_output=True, text=True)
        figures["run_s"] = round(time.time() - started, 1)
        if run.returncode != 0:
            raise RuntimeError(f"the search exited {run.returncode}: {(run.stderr or run.stdout).strip()[-2000:]}")
        study = optuna.load_study(study_name="gpu-cnn", storage=open_storage(url))
        State = optuna.trial.TrialState
        done = [t for t in study.trials if t.state in (State.COMPLETE, State.PRUNED)]
        complete = [(t.datetime_complete.timestamp() - started, t.value) for t in done if t.state == State.COMPLETE]
        curve = best_by_time(complete)
        reached = next((s for s, v in curve if v >= SEARCH_GOAL), None)
        figures |= {
            "trials": len(done), "complete": len(complete), "pruned": len(done) - len(complete),
            "epochs": sum(len(t.intermediate_values) for t in done),
            "devices": sorted({str(t.user_attrs.get("device")) for t in done}),
            "best_val_accuracy": curve[-1][1] if curve else None, "best_by_time": curve,
            "seconds_to_goal": reached,
        }  # fmt: skip
        print(f"  best {figures['best_val_accuracy']} after {figures['trials']} trials", flush=True)
        return figures


# ---------------------------------------------------------------- the report


def _verdict(met: bool | None) -> str:
    return "—" if met is None else "met" if met else "**missed**"


def render_section(results: dict[str, Any]) -> str:
    """The GPU section of BENCHMARKS.md from one or more merged result files."""
    env = results.get("environment", {})
    gpus = env.get("gpus")
    device = "; ".join(g.split(" (UUID")[0] for g in gpus) if isinstance(gpus, list) else "no GPU"
    lines = [
        "_Regenerated by `python -m bench.gpu --render FILE ...` from the campaign's JSON; edit `bench/gpu.py`, not the text._",
        "",
        *(
            ["**Dry run: tiny sizes on whatever was there; the figures only show that every part runs.**", ""]
            if any(r.get("dry") for r in results.get("runs", []))
            else []
        ),  # fmt: skip
        f"- **Device:** {device}; {env.get('cpus')} CPUs; training on `{env.get('device')}`",
        f"- **Software:** Python {env.get('python')}, Keras {env.get('keras')} on {env.get('backend')} "
        f"{env.get('jax', '')} ({', '.join(env.get('jax_devices', []))}), Optuna {env.get('optuna')}, NumPy {env.get('numpy')}",
        "- **Runs:** "
        + "; ".join(f"`{r['command']}` at `{r['commit']}`, {r['date']}" for r in results.get("runs", [])),
        "",
    ]
    parts = results.get("parts", {})
    if "epoch-time" in parts:
        lines += ["| model | parameters | epoch seconds (first, then the rest) | steady epoch s | images/s | GPU util mean / max | GPU memory max |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for family, f in parts["epoch-time"]["figures"].items():
            lines.append(f"| {family} (batch {f['batch_size']}) | {f['params']:,} | {', '.join(f'{s:.2f}' for s in f['epoch_s'])} | "
                         f"{f['steady_epoch_s']:.2f} | {f['train_images'] / f['steady_epoch_s']:,.0f} | {_smi_cells(f)} |")  # fmt: skip
        lines.append("")
    if "scaling" in parts:
        s = parts["scaling"]["figures"]
        lines += [f"Workers sharing one GPU, {s['model']}, {s['train_images']:,} images, {s['epochs_per_trial']} epochs each:", "",
                  "| workers | epochs/s (summed) | × one worker | GPU util mean / max | GPU memory max |", "|---|---|---|---|---|"]  # fmt: skip
        for n, f in s["workers"].items():
            lines.append(f"| {n} | {f['epochs_per_s']:.3f} | {s['speedup'][n]:.2f} | {_smi_cells(f)} |")
        four = s["speedup"].get("4")
        outcome = "not measured" if four is None else f"{four:.2f} — {_verdict(four >= SCALING_GOAL)}"
        lines += ["", f"Goal 4 workers ≥ {SCALING_GOAL} × one: {outcome}.", ""]
    if "search" in parts:
        f = parts["search"]["figures"]
        best = f["best_val_accuracy"]
        met = best is not None and f["seconds_to_goal"] is not None and f["seconds_to_goal"] <= SEARCH_GOAL_S
        lines += [
            f"Search: `{f['command']}`, {f['run_s']:.0f} s in all: {f['trials']} trials ({f['complete']} complete, "
            f"{f['pruned']} pruned), {f['epochs']} epochs, on {', '.join(f['devices'])}. GPU util mean / max | memory max: {_smi_cells(f)}.",
            "",
            "| seconds after start | best val accuracy so far |",
            "|---|---|",
            *(f"| {s:.0f} | {v:.4f} |" for s, v in f["best_by_time"]),
            "",
            f"Goal ≥ {SEARCH_GOAL:.2f} within {SEARCH_GOAL_S // 60} minutes: best {best}, "
            + (f"reached at {f['seconds_to_goal']:.0f} s" if f["seconds_to_goal"] is not None else "not reached")
            + f" — {_verdict(met)}.",
            "",
        ]
    return "\n".join(lines)


def _smi_cells(figures: dict[str, Any]) -> str:
    smi = figures.get("nvidia_smi")
    if not isinstance(smi, dict) or not smi.get("samples"):
        return "— | —"
    return f"{smi['utilisation_mean_pct']:.0f} % / {smi['utilisation_max_pct']:.0f} % | {smi['memory_used_max_mib']:,.0f} of {smi['memory_total_mib']:,.0f} MiB"


def merge(files: list[Path]) -> dict[str, Any]:
    """One result from several runs' files: the environment of the first, every run, every part (later ones win)."""
    merged: dict[str, Any] = {"runs": [], "parts": {}}
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        merged.setdefault("environment", data["environment"])
        merged["runs"].append({k: data[k] for k in ("command", "commit", "date", "dry")})
        merged["parts"] |= data["parts"]
    return merged


def update_benchmarks(text: str, section: str) -> str:
    """Replace what lies between the GPU markers of BENCHMARKS.md."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"BENCHMARKS.md has no {BEGIN} … {END} markers")
    head, rest = text.split(BEGIN, 1)
    return head + BEGIN + "\n" + section.rstrip() + "\n" + END + rest.split(END, 1)[1]


# ---------------------------------------------------------------- main


def _commit() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return run.stdout.strip() or "unknown (no git here)"


def run_campaign(parts: list[str], dry: bool) -> dict[str, Any]:
    """The environment, then each part with its wall time; stops at once when a real run sees no GPU."""
    from search.runtime.devices import detect_gpus

    sizes = DRY if dry else FULL
    gpus = detect_gpus()[:1]  # the campaign measures one GPU, shared
    env = environment(gpus)
    print(f"backend {env['backend']}, training on {env['device']}, GPUs: {env['gpus']}", flush=True)
    if not dry and not env["device"].startswith("gpu"):
        raise SystemExit(f"error: no GPU visible to the {env['backend']} backend ({env['device']}); use --dry on a CPU")
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench.gpu", *sys.argv[1:]]), "dry": dry, "commit": _commit(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "sizes": asdict(sizes),
        "environment": env, "parts": {},
    }  # fmt: skip
    measure = {"epoch-time": part_epoch_time, "scaling": part_scaling, "search": part_search}
    for part in parts:
        print(f"{part} …", flush=True)
        started = time.time()
        figures = measure[part](sizes, gpus)
        results["parts"][part] = {"seconds": round(time.time() - started, 1), "figures": figures}
        print(f"{part}: {results['parts'][part]['seconds']:.0f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--dry", action="store_true", help="tiny sizes, any device: checks the campaign runs")
    parser.add_argument("--part", action="append", choices=PARTS, help="run only this part (repeatable); default: all")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results-gpu[-dry].json)")
    parser.add_argument(
        "--render",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="write the GPU section of BENCHMARKS.md from these result files, and run nothing",
    )
    args = parser.parse_args()
    from search.runtime.quiet import configure_logging

    configure_logging()
    if args.render:
        missing = [str(p) for p in args.render if not p.is_file()]
        if missing:
            raise SystemExit(f"error: no such result file: {', '.join(missing)}")
        BENCHMARKS.write_text(
            update_benchmarks(BENCHMARKS.read_text(encoding="utf-8"), render_section(merge(args.render))),
            encoding="utf-8",
        )
        print(f"wrote the GPU section of {BENCHMARKS}")
        return
    results = run_campaign(args.part or list(PARTS), args.dry)
    out = args.out or ROOT / "bench" / f"results-gpu{'-dry' if args.dry else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
