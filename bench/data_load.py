"""Cold vs warm load of all 70,000 Fashion-MNIST images (train + test) through ``load_part``.

Cold: the .npy array cache is empty (XDG_CACHE_HOME points at a fresh temporary directory),
so ``load_part`` gunzips and parses the IDX files and writes the cache. Warm: the same call
again, now reading the .npy files. Every worker of a search loads the data once, so the warm
time is what each worker pays; the issue's goal is "well under a second".

To see where cold time goes, each repeat also times gunzipping the four files alone.
Sides are interleaved (cold, gunzip, warm, cold, ...) and medians reported, because the
machine is shared and timings are noisy.

    python -m bench.data_load [--repeats 5] [--json bench/results-data_load.json]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench._common import median, print_table, save_json
from search.data import FILES, load_part, locate

PARTS = ("train", "test")


def load_all() -> int:
    """Load train and test; return the number of images."""
    return sum(len(load_part(part)[0]) for part in PARTS)


def gunzip_all() -> int:
    """Only decompress the four source files (what a cold load must do at least)."""
    total = 0
    for part in PARTS:
        directory = locate(part)
        for kind in ("images", "labels"):
            path = directory / f"{FILES[f'{part}_{kind}']}.gz"
            if path.is_file():
                with gzip.open(path, "rb") as stream:
                    total += len(stream.read())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()

    saved = os.environ.get("XDG_CACHE_HOME")
    cold: list[float] = []
    warm: list[float] = []
    gunzip: list[float] = []
    images = 0
    try:
        for _ in range(args.repeats):
            cache = Path(tempfile.mkdtemp(prefix="fmnist-bench-cache-"))
            os.environ["XDG_CACHE_HOME"] = str(cache)
            try:
                started = time.perf_counter()
                images = load_all()
                cold.append(time.perf_counter() - started)

                started = time.perf_counter()
                gunzip_all()
                gunzip.append(time.perf_counter() - started)

                started = time.perf_counter()
                assert load_all() == images
                warm.append(time.perf_counter() - started)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved

    print(f"{images} images (train + test), {args.repeats} repeats, interleaved\n")
    rows = [(i + 1, c, g, w, c / w) for i, (c, g, w) in enumerate(zip(cold, gunzip, warm))]
    rows.append(("median", median(cold), median(gunzip), median(warm), median(cold) / median(warm)))
    print_table(("repeat", "cold s", "gunzip only s", "warm s", "cold / warm"), rows)
    goal = "met" if median(warm) < 1.0 else "MISSED"
    print(f"\nwarm load median {median(warm) * 1000:.0f} ms; goal 'well under a second': {goal}")
    save_json(args.json, {"images": images, "cold_s": cold, "gunzip_s": gunzip, "warm_s": warm})


if __name__ == "__main__":
    main()
