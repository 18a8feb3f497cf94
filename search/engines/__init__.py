"""Who searches: Optuna's workers (``optuna/``) or KerasTuner's Hyperband (``keras_tuner/``), behind one interface.

``runner`` is the one caller of both. Nothing heavy is imported here: spawned worker processes
import this package by path.
"""
