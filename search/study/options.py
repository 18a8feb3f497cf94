"""The choices a study is started with, as plain constants: the CLI lists them in its help without
importing Optuna (search/study/settings.py builds samplers and pruners from them)."""

from __future__ import annotations

# "prior": search/study/sampler.py (start-up near known-good points, steps from the incumbent, TPE).
SAMPLERS = ("prior", "tpe", "random", "gp")
PRUNERS = ("hyperband", "median", "sha", "none")
DEFAULT_EPOCHS = 15
DEFAULT_SAMPLER = "prior"
DEFAULT_PRUNER = "hyperband"
DEFAULT_SEED = 0
# Worker i samples with seed + i (a joining worker's id is up to ~1e6) and trial n's weights use
# seed + n; NumPy takes seeds below 2**32, so the study's seed stops at 2**31 - 1 to leave room.
MAX_SEED = 2**31 - 1
# --warm-start: "defaults" (what a new study does unless told "none"): the family defaults first
# (spaces/first_trial.py says why); "seeds": the seed reports' models that fit the space next.
WARM_STARTS = ("defaults", "seeds", "none")
