"""The one interface both engines sit behind: a job in, trials of its study run in this process, a count out.

Optuna's worker loop (search/engines/optuna/worker.py) and KerasTuner's Hyperband
(search/engines/keras_tuner/engine.py) are both an ``Engine``; the runner
(search/engines/runner.py) picks one and is their one caller. Nothing heavy is imported here:
a ``WorkerJob`` crosses into spawned worker processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import optuna

ENGINES = ("optuna", "keras-tuner")
DEFAULT_ENGINE = "optuna"

# (trial number, epoch just finished, max epochs, that epoch's Keras logs)
EpochListener = Callable[[int, int, int, dict[str, float]], None]


# "module:function" that builds every worker's objective instead of the Keras trainer. A seam for
# the tests and bench/soak.py (bench/with_objective.py sets it before running the CLI); only Python
# code sets it: no option or environment variable reaches it. New jobs carry it to their workers.
OBJECTIVE_FACTORY: str | None = None


def _objective_factory_now() -> str | None:
    return OBJECTIVE_FACTORY


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs; plain values only, so it crosses a process boundary."""

    storage_url: str
    study_name: str
    worker_id: int = 0
    run: int | None = None  # the run this worker belongs to (storage/runs.py); None: a run of its own
    deadline: float | None = None  # time.time() at which the run ends
    data_dir: str | None = None
    verbose: bool = False
    env: dict[str, str] = field(default_factory=dict)  # set before the backend is imported
    objective_factory: str | None = field(default_factory=_objective_factory_now)  # see OBJECTIVE_FACTORY


class Engine(Protocol):
    """What the runner needs of an engine: run trials of ``job``'s study in this process; return how many."""

    def __call__(
        self,
        job: WorkerJob,
        listener: EpochListener | None = None,
        after_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None,
    ) -> int: ...
