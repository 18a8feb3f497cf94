"""Seconds per epoch of the default dense and default CNN models, alone or compared across runtimes.

Each model (``build_model(family, defaults(family))``) is trained as a trial would train it, with
the 5k validation set. A callback times each epoch from ``on_epoch_begin`` to ``on_epoch_end``
(Keras runs validation in between) and the validation pass alone. The first epoch also pays for
tracing or compiling; the later ones show the steady state.

    python -m bench.epoch_time [--epochs 2] [--families dense cnn]       # this process's runtime, full data
    python -m bench.epoch_time --compare [--repeats 3] [--subset 4000]    # every runtime, side by side

``--compare`` runs each configuration (backend, XLA, precision, steps per execution, batch size,
threads per worker: ``CONFIGS``) in a child process of its own, since a backend is fixed when
Keras is imported, round-robin over ``--repeats`` rounds, round r seeding every model with r. A
shared CPU makes absolute seconds drift with the other load, so what it reports is each
configuration's ratio to today's default (TensorFlow, no XLA, float32, one step per execution,
the backend's own threads) within the same round, the median over rounds, and the validation
accuracy after the last epoch, against the default's spread over the rounds' seeds. Seconds are
the train part of an epoch (validation excluded) scaled to the 55,000-image train split, so a
small ``--subset`` keeps the slow configurations affordable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench._common import median, print_table, save_json

FULL_TRAIN = 55_000
RESULT_PREFIX = "EPOCH-TIME-RESULT "
FAMILIES = ("dense", "cnn")
BASELINE = "default"


@dataclass(frozen=True)
class Config:
    """One way to run the default models; every field left at its default is today's default."""

    backend: str = "tensorflow"
    jit_compile: str = "auto"  # FMNIST_JIT_COMPILE: "auto" is no XLA under TensorFlow on a CPU
    precision: str = "float32"  # a Keras dtype policy
    steps_per_execution: int | None = 1  # None: what search/runtime/choice.py chooses
    batch_size: int | None = None  # None: the model's own (128)
    workers: int = 1  # >1: that many processes at once, each with its share of the cores (devices.py)
    intra_inter: tuple[int, int] | None = None  # TensorFlow's thread pools; None: its own (all cores)
    families: tuple[str, ...] = FAMILIES
    note: str = ""


CONFIGS: dict[str, Config] = {
    BASELINE: Config(note="today's default"),
    "chosen": Config(steps_per_execution=None, jit_compile="", note="search/runtime/choice.py's choice here"),
    "tf-spe8": Config(steps_per_execution=8, families=("dense",), note="8 steps per execution"),
    "tf-spe32": Config(steps_per_execution=32, note="32 steps per execution"),
    "tf-bf16": Config(precision="mixed_bfloat16", note="needs AVX-512 BF16 or AMX"),
    "tf-inter1": Config(intra_inter=(0, 1), note="intra-op all cores, inter-op 1"),
    "tf-spe32-inter1": Config(steps_per_execution=32, intra_inter=(0, 1), note="32 steps per execution, inter-op 1"),
    "tf-2workers": Config(
        workers=2, steps_per_execution=None, note="2 processes of 1 core, as chosen: s per epoch of the pair"
    ),
    "tf-b64": Config(batch_size=64, note="a hyperparameter: accuracy differs"),
    "tf-b256": Config(batch_size=256, note="a hyperparameter: accuracy differs"),
    "tf-xla": Config(jit_compile="true", families=("dense",), note="XLA"),
    "jax": Config(backend="jax", families=("dense",)),
    "jax-spe32": Config(backend="jax", steps_per_execution=32, families=("dense",), note="32 steps per execution"),
    "torch": Config(backend="torch"),
    # The CNN under XLA (TensorFlow's or JAX's) is ~20x slower than the default here: a run of
    # its own, on fewer images (BENCHMARKS.md §3b), keeps the main comparison under half an hour.
    "tf-xla-cnn": Config(jit_compile="true", families=("cnn",), note="XLA"),
    "jax-cnn": Config(backend="jax", families=("cnn",)),
}
DEFAULT_CONFIGS = [name for name in CONFIGS if not name.endswith("-cnn")]


def available_configs(names: list[str] | None = None) -> dict[str, Config]:
    """The configurations this machine can run: a backend must be installed, bfloat16 needs a CPU with it."""
    from search.runtime.choice import read_cpu_flags

    has_bf16 = bool({"avx512_bf16", "amx_bf16"} & read_cpu_flags())
    chosen = {name: CONFIGS[name] for name in (names or DEFAULT_CONFIGS)}
    return {
        name: config
        for name, config in chosen.items()
        if find_spec(config.backend) is not None and (config.precision == "float32" or has_bf16)
    }


def config_env(config: Config, worker: int = 0) -> dict[str, str]:
    """The environment of a child process running ``config`` (worker ``worker`` of ``config.workers``)."""
    from search.runtime.devices import worker_environment

    env = {"KERAS_BACKEND": config.backend, "FMNIST_BENCH_PRECISION": config.precision, "PYTHONUNBUFFERED": "1"}
    if config.jit_compile:
        env["FMNIST_JIT_COMPILE"] = config.jit_compile
    if config.steps_per_execution is not None:
        env["FMNIST_STEPS_PER_EXECUTION"] = str(config.steps_per_execution)
    env.update(worker_environment(worker, config.workers, [], os.cpu_count() or 1))
    if config.intra_inter is not None:
        intra, inter = config.intra_inter
        env.update(TF_NUM_INTEROP_THREADS=str(inter), **({"TF_NUM_INTRAOP_THREADS": str(intra)} if intra else {}))
    return env


# --- one configuration, in a child process ------------------------------------------------


def epoch_timer(keras: Any) -> Any:
    class EpochTimer(keras.callbacks.Callback):
        """Wall time of each epoch (validation included) and of each epoch's validation pass."""

        def __init__(self) -> None:
            super().__init__()
            self.epoch_s: list[float] = []
            self.val_s: list[float] = []
            self._epoch_start = self._val_start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch_start = time.perf_counter()

        def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
            # JAX dispatches asynchronously: without waiting for the last step's weights here,
            # the training still running would be timed as validation (TensorFlow waits anyway).
            keras.ops.convert_to_numpy(self.model.trainable_variables[-1])
            self._val_start = time.perf_counter()

        def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
            self.val_s.append(time.perf_counter() - self._val_start)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_s.append(time.perf_counter() - self._epoch_start)

    return EpochTimer()


def _wait_for_go(barrier: str | None, family: str, worker: int) -> None:
    """Workers of one configuration start each family's training together, so that they really share the CPU."""
    if not barrier:
        return
    Path(barrier, f"ready-{family}-{worker}").touch()
    while not Path(barrier, f"go-{family}").exists():
        time.sleep(0.05)


def train_families(
    families: list[str],
    epochs: int,
    seed: int,
    subset: int | None,
    batch_size: int | None,
    data_dir: str | None,
    barrier: str | None = None,
) -> dict[str, Any]:
    """Train each family's default model in this process's runtime; its epoch and validation seconds, accuracy."""
    from search.runtime.quiet import import_keras

    keras = import_keras()
    from search.data.loader import load_train_val
    from search.runtime.choice import compile_options, current_runtime
    from search.runtime.devices import apply_backend_limits
    from spaces.builders import build_model
    from spaces.families import defaults

    apply_backend_limits()
    data = load_train_val(data_dir, subset)
    results: dict[str, Any] = {"backend": keras.backend.backend(), "n_train": len(data.x_train)}
    results["runtime"] = {family: asdict(current_runtime(family)) for family in families}
    worker = int(os.environ.get("FMNIST_WORKER_ID", "0"))
    for family in families:
        params = defaults(family) | ({"batch_size": batch_size} if batch_size else {})
        keras.utils.set_random_seed(seed)
        # Per model: clear_session() below resets the dtype policy too.
        keras.mixed_precision.set_global_policy(os.environ.get("FMNIST_BENCH_PRECISION", "float32"))
        model = build_model(family, params, compile_options=compile_options(family))
        results.setdefault("precision", {})[family] = model.dtype_policy.name
        timer = epoch_timer(keras)
        _wait_for_go(barrier, family, worker)
        load_before = os.getloadavg()[0]
        history = model.fit(
            data.x_train, data.y_train, batch_size=params["batch_size"], epochs=epochs,
            validation_data=(data.x_val, data.y_val), callbacks=[timer], verbose=0,
        )  # fmt: skip
        results[family] = {
            "epoch_s": timer.epoch_s, "val_s": timer.val_s, "val_accuracy": history.history["val_accuracy"],
            "params": model.count_params(), "batch_size": params["batch_size"],
            "loadavg_1min": [load_before, os.getloadavg()[0]],
        }  # fmt: skip
        del model
        keras.backend.clear_session()
    return results


# --- the comparison, in the parent process ------------------------------------------------


def run_config(name: str, config: Config, args: argparse.Namespace, seed: int) -> list[dict[str, Any]]:
    """Run ``config`` in ``config.workers`` child processes at once; each child's results."""
    families = [f for f in args.families if f in config.families]
    with tempfile.TemporaryDirectory(prefix="epoch-time-") as barrier:
        command = [
            sys.executable,
            "-m",
            "bench.epoch_time",
            "--child",
            "--epochs",
            str(args.epochs),
            "--seed",
            str(seed),
            "--families",
            *families,
        ]
        command += [
            *(["--subset", str(args.subset)] if args.subset else []),
            *(["--data-dir", args.data_dir] if args.data_dir else []),
        ]
        command += [*(["--batch-size", str(config.batch_size)] if config.batch_size else [])]
        command += ["--barrier", barrier] if config.workers > 1 else []
        children = [
            subprocess.Popen(
                command,
                env=os.environ | config_env(config, w),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in range(config.workers)
        ]
        if config.workers > 1:
            _release(barrier, families, config.workers, children)
        outputs = [child.communicate() for child in children]
    results = []
    for child, (out, err) in zip(children, outputs, strict=True):
        lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
        if child.returncode != 0 or not lines:
            raise RuntimeError(
                f"configuration {name} failed (exit {child.returncode}): {(err or out).strip().splitlines()[-1:]}"
            )
        results.append(json.loads(lines[-1][len(RESULT_PREFIX) :]))
    return results


def _release(barrier: str, families: list[str], workers: int, children: list[subprocess.Popen[str]]) -> None:
    for family in families:
        while len(list(Path(barrier).glob(f"ready-{family}-*"))) < workers:
            if any(child.poll() is not None for child in children):
                return  # one died: its error is read by the caller
            time.sleep(0.05)
        Path(barrier, f"go-{family}").touch()


def steady_seconds(result: dict[str, Any], family: str, workers: int) -> float:
    """Train seconds of one epoch after the first, scaled to the full train split; per pair of workers' epochs when several ran at once."""
    run = result[family]
    train = [total - val for total, val in zip(run["epoch_s"][1:], run["val_s"][1:], strict=True)]
    return median(train) * FULL_TRAIN / result["n_train"] / workers


def summarize(
    rounds: list[dict[str, dict[str, Any]]], configs: dict[str, Config], families: list[str]
) -> list[dict[str, Any]]:
    """Per family and configuration: median seconds, median per-round ratio to the baseline, validation accuracy against its spread."""
    rows = []
    for family in families:
        base_acc = [r[BASELINE][family]["val_accuracy"] for r in rounds]
        noise = 2 * statistics.stdev(base_acc) if len(base_acc) > 1 else 0.0
        for name, config in configs.items():
            if family not in config.families:
                continue
            seconds = [r[name][family]["seconds"] for r in rounds]
            ratios = [r[BASELINE][family]["seconds"] / r[name][family]["seconds"] for r in rounds]
            acc = [r[name][family]["val_accuracy"] for r in rounds]
            delta = statistics.mean(acc) - statistics.mean(base_acc)
            rows.append({
                "family": family, "config": name, "median_s": median(seconds), "seconds": seconds, "ratio": median(ratios),
                "ratios": ratios, "val_accuracy": acc, "val_delta": delta, "accuracy_kept": delta >= -noise, "note": config.note,
            })  # fmt: skip
    return rows


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration, round-robin over ``args.repeats`` rounds; the rows and raw figures."""
    from search.runtime.choice import read_cpu_flags

    configs = available_configs(args.configs)
    if BASELINE not in configs:
        raise SystemExit(f"error: --configs must include {BASELINE!r}, the configuration every ratio is against")
    skipped = sorted(set(args.configs or DEFAULT_CONFIGS) - set(configs))
    print(f"{len(configs)} configurations x {args.repeats} rounds, {args.epochs} epochs each on {args.subset or FULL_TRAIN} images"
          f"{'; not available here: ' + ', '.join(skipped) if skipped else ''}", flush=True)  # fmt: skip
    rounds: list[dict[str, dict[str, Any]]] = []
    raw: list[dict[str, Any]] = []
    for seed in range(args.repeats):
        row: dict[str, dict[str, Any]] = {}
        for name, config in configs.items():
            started = time.perf_counter()
            results = run_config(name, config, args, seed)
            raw.append({"round": seed, "config": name, "results": results})
            row[name] = {
                family: {
                    "seconds": median([steady_seconds(r, family, config.workers) for r in results]),
                    "val_accuracy": statistics.mean(r[family]["val_accuracy"][-1] for r in results),
                }
                for family in args.families
                if family in config.families
            }
            figures = "  ".join(f"{f} {v['seconds']:.2f} s" for f, v in row[name].items())
            print(
                f"round {seed + 1}/{args.repeats}  {name:<18} {figures}  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        rounds.append(row)
    rows = summarize(rounds, configs, args.families)
    flags = sorted({"avx512_bf16", "amx_bf16", "amx_tile", "avx512f"} & read_cpu_flags())
    return {"args": vars(args), "cpu": _cpu_model(), "cpu_flags": flags, "cpus": os.cpu_count(), "rows": rows, "raw": raw,
            "configs": {name: asdict(config) for name, config in configs.items()}}  # fmt: skip


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def print_comparison(report: dict[str, Any]) -> None:
    print(f"\n{report['cpu']}, {report['cpus']} CPUs, flags {', '.join(report['cpu_flags']) or 'none of note'}; "
          f"the CPU may be shared: compare ratios, not seconds\n")  # fmt: skip
    table = [
        (r["family"], r["config"], f"{r['median_s']:.2f}", f"{r['ratio']:.2f}x", f"{statistics.mean(r['val_accuracy']):.4f}",
         f"{r['val_delta']:+.4f}", "yes" if r["accuracy_kept"] else "NO", r["note"])
        for r in report["rows"]
    ]  # fmt: skip
    print_table(
        ("model", "config", "s/epoch (55k)", "speed vs default", "val acc", "vs default", "acc kept", "note"), table
    )


def single(args: argparse.Namespace) -> None:
    """Today's mode: this process's runtime, the families one after the other, every epoch printed."""
    results = train_families(args.families, args.epochs, args.seed, args.subset, args.batch_size, args.data_dir)
    print(f"{results['n_train']} train images, backend {results['backend']}, runtime {results['runtime']}, "
          f"{os.cpu_count()} CPUs, {args.epochs} epochs per model\n")  # fmt: skip
    rows: list[tuple[object, ...]] = []
    for family in args.families:
        run = results[family]
        for epoch, (total, val) in enumerate(zip(run["epoch_s"], run["val_s"], strict=True), start=1):
            train = total - val
            rows.append(
                (family, epoch, total, train, val, round(results["n_train"] / train), run["val_accuracy"][epoch - 1])
            )
        print(f"{family}: {run['params']:,} parameters, batch size {run['batch_size']}, "
              f"1-min load average {run['loadavg_1min'][0]:.2f} before, {run['loadavg_1min'][1]:.2f} after")  # fmt: skip
    print()
    print_table(("model", "epoch", "epoch s", "train s", "val s", "train img/s", "val acc"), rows)
    save_json(args.json, results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default: 2, or 3 with --compare)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--subset", type=int, default=None, help="train images (default: all 55,000, or 4,000 with --compare)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="instead of the model's own")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    parser.add_argument("--compare", action="store_true", help="every configuration side by side, in child processes")
    parser.add_argument("--repeats", type=int, default=3, help="--compare: rounds over all configurations")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=None,
        choices=list(CONFIGS),
        help="--compare: these only (default: all available but the *-cnn ones)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.compare:
        args.epochs = args.epochs or 3
        args.subset = args.subset or 4000
        if args.epochs < 2 or args.repeats < 1:
            parser.error(
                f"--compare needs --epochs of at least 2 (the first one compiles) and --repeats of at least 1, but got {args.epochs=}, {args.repeats=}"
            )
        report = compare(args)
        print_comparison(report)
        save_json(args.json, report)
        return
    args.epochs = args.epochs or 2
    if args.child:
        results = train_families(
            args.families, args.epochs, args.seed, args.subset, args.batch_size, args.data_dir, args.barrier
        )
        print(RESULT_PREFIX + json.dumps(results), flush=True)
        return
    single(args)


if __name__ == "__main__":
    main()
