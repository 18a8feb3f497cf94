"""Kept only for search/engines/optuna/worker.py until its branch calls ``search.engines.record.warm_up_plots``.

The trial report moved to search/engines/trial_files.py (it writes to the store, it draws nothing
on a screen); remove this module when the worker no longer imports it.
"""

from __future__ import annotations

from search.engines.trial_files import warm_up_study_plots

__all__ = ["warm_up_study_plots"]
