"""Small helpers shared by the benchmarks: medians, RSS, a fixed default space file, tables."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spaces.families import defaults


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def rss_mib() -> float:
    """This process's resident set size (VmRSS) in MiB, read from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    raise RuntimeError("no VmRSS line in /proc/self/status")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string literal is a valid TOML basic string
    return repr(value)


def write_default_space(directory: Path, family: str = "dense") -> Path:
    """A space file fixing every key of the family's default model, so the sampler chooses nothing."""
    lines = [f'name = "default-{family}"', f'model = "{family}"', "", "[params]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in defaults(family).items()]
    path = directory / f"default-{family}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tf_gradient_registry() -> dict[str, object] | None:
    """TF's global gradient registry (private API; None when it cannot be found).

    TF 2.21's ``tf.custom_gradient`` adds a ``CustomGradient-N`` entry to it each time it is
    traced in graph mode and never removes it; the entry keeps its traced graph alive.
    """
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return None


def drop_custom_gradients_since(before: set[str]) -> None:
    """Delete the custom-gradient registry entries added since ``before`` was taken."""
    registry = tf_gradient_registry()
    if registry is not None:
        for name in [n for n in registry if n.startswith("CustomGradient-") and n not in before]:
            del registry[name]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table on stdout (also valid Markdown)."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("| " + " | ".join(text.rjust(width) for text, width in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def save_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write the raw figures when ``--json PATH`` was given (bench/results*.json is git-ignored)."""
    if path:
        Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
