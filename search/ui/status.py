"""What the store holds: one line per study, or one study's best trials, as tables or JSON."""

from __future__ import annotations

import optuna
from rich.console import Console

from search.errors import StudyError, StudyNameError
from search.study.settings import open_study
from search.ui.console import print_json
from search.ui.progress import finished_trials, params_table, studies_table, study_summary, take_snapshot, trials_table
from storage import open_storage


def show_status(console: Console, study_name: str | None, storage_url: str | None, as_json: bool = False) -> None:
    """One line per study, or the best trials of one study; as JSON for scripts."""
    storage = open_storage(storage_url, must_exist=True)
    if study_name is not None:
        study, settings = open_study(storage, study_name)
        snapshot = take_snapshot(study, settings)
        if as_json:
            print_json(console, {**study_summary(study_name, snapshot), "trials": finished_trials(study)})
            return
        console.print(studies_table([(study_name, snapshot)]))
        console.print(trials_table(study))
        if snapshot.best_value is not None:
            console.print(params_table(f"params of the best trial ({snapshot.best_number})", snapshot.best_params))
        return
    rows = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        try:
            study, settings = open_study(storage, summary.study_name)
            rows.append((summary.study_name, take_snapshot(study, settings)))
        except (StudyError, StudyNameError):  # made by something else than fmnist-search
            rows.append((summary.study_name, None))
    if as_json:
        print_json(console, {"studies": [study_summary(name, snapshot) for name, snapshot in rows]})
        return
    if not rows:
        console.print("the store holds no study yet; start one with: fmnist-search start --space dense")
        return
    console.print(studies_table(rows))
