"""``python -m bench.with_objective MODULE:FUNCTION start ...``: the real CLI, its workers training
the objective that MODULE:FUNCTION builds instead of the Keras one.

For bench/soak.py and the tests of processes and signals (their stub trains in milliseconds):
the store, budget, heartbeats, pruning, re-queueing and worker processes stay real. Only Python
code can set this seam (search/engines/interface.py); fmnist-search itself has no option or
environment variable for it.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    if len(argv) < 2 or ":" not in argv[0]:
        sys.exit("usage: python -m bench.with_objective MODULE:FUNCTION COMMAND [OPTIONS...]")
    from search.engines import interface

    interface.OBJECTIVE_FACTORY = argv[0]
    sys.argv = ["fmnist-search", *argv[1:]]
    from search.__main__ import run

    run()


if __name__ == "__main__":  # not on import: spawned workers re-import this module and get the job's factory
    main(sys.argv[1:])
