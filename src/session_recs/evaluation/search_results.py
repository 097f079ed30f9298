"""A hyperparameter search in the report: its best trials, and each searched model's test
recall before and after its search."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from session_recs.evaluation.compare import cell, measured, our_row
from session_recs.models.registry import SEARCHED_MODEL

LEGACY = SEARCHED_MODEL


def search_summary(tune_results: pd.DataFrame | None, top: int = 5) -> pd.DataFrame | None:
    """The best ``top`` trials of a tune search (validation metrics, configuration)."""
    if tune_results is None or tune_results.empty:
        return None
    last = [c for c in tune_results.columns if c.startswith("last_val_")]
    if not last:
        return None
    metric = next((c for c in last if "recall" in c), last[0])
    config = [c for c in tune_results.columns if c.startswith("config/")]
    done = tune_results[tune_results["status"] == "TERMINATED"]
    best = done.sort_values(metric, ascending=False).head(top)
    columns = ["trial_id", metric, *config, "epochs_run", "wall_s"]
    table = best[[c for c in columns if c in best.columns]].copy()
    table.columns = [c.removeprefix("config/") for c in table.columns]
    return table.reset_index(drop=True)


def search_lines(
    tune_results: pd.DataFrame | None, comparison: pd.DataFrame | None = None
) -> tuple[str, pd.DataFrame] | None:
    """A search's summary sentence and its best trials (None without finished trials).
    The sentence says the best configuration was trained and tested as
    :data:`SEARCHED_MODEL` only when ``comparison`` holds that model's metrics and they
    were measured with one of this search's finished configurations (:func:`refit_of_search`)."""
    table = search_summary(tune_results)
    if tune_results is None or table is None:
        return None
    n = len(tune_results)
    early = int(tune_results.get("stopped_early", pd.Series(dtype=bool)).fillna(False).sum())
    hours = tune_results.get("wall_s", pd.Series(dtype=float)).sum() / 3600
    text = f"{n} trials ({early} stopped early by the scheduler), {hours:.2f} trial-hours. "
    if not _complete(tune_results):
        text += (
            "The search was interrupted: these are the trials that finished, and nothing "
            "was refitted from it. "
        )
    elif comparison is not None and refit_of_search(tune_results, comparison, SEARCHED_MODEL):
        text += f"The best configuration is trained and tested as `{SEARCHED_MODEL}` above. "
    else:
        text += (
            f"Its best configuration has not been trained and tested yet (`{SEARCHED_MODEL}` "
            "has no metrics from this search): "
            f"`kedro run --pipelines=train_w2v --namespaces={SEARCHED_MODEL}`. "
        )
    return text + "FF19 ran a 539-trial grid of 100-epoch trials for its tuned Word2Vec.", table


def refit_of_search(tune_results: pd.DataFrame, comparison: pd.DataFrame, model: str) -> bool:
    """Whether ``model``'s metrics in ``comparison`` (measured on the report's split) were
    measured with the configuration of one of ``tune_results``' finished trials: every
    searched option (``config/<name>``) equal to the model's saved option."""
    rows = measured(comparison)
    rows = rows[rows["model"] == model]
    if rows.empty or "model_options" not in rows.columns or pd.isna(rows["model_options"].iloc[0]):
        return False
    try:
        options = json.loads(str(rows["model_options"].iloc[0]))
    except ValueError:
        return False
    searched = [c for c in tune_results.columns if c.startswith("config/")]
    finished = tune_results[tune_results.get("status", "TERMINATED") == "TERMINATED"]
    return bool(searched) and any(
        all(_option_of(trial, options, c) for c in searched) for _, trial in finished.iterrows()
    )


def _option_of(trial: pd.Series, options: Mapping[str, Any], column: str) -> bool:
    """Whether the refit's option is the trial's: its configured value, or for the search's
    resource (epochs) of a trial stopped early, the epochs it ran."""
    ours = options.get(column.removeprefix("config/"))
    if _same(ours, trial[column]):
        return True
    resource = "epochs_planned" in trial and _same(trial[column], trial["epochs_planned"])
    return bool(resource and "epochs_run" in trial and _same(ours, trial["epochs_run"]))


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, numbers.Real) and isinstance(theirs, numbers.Real):
        return math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=1e-12)
    try:
        return bool(ours == theirs) or str(ours) == str(theirs)
    except (TypeError, ValueError):
        return False


def _complete(tune_results: pd.DataFrame) -> bool:
    return bool(tune_results.get("search_complete", pd.Series([True])).all())


@dataclass(frozen=True)
class Search:
    """A model's search for the report: its trials, and the rows it compares."""

    results: pd.DataFrame | None
    default: str
    tuned: str


def search_table(
    comparison: pd.DataFrame, searches: Mapping[str, Search], k: int
) -> pd.DataFrame | None:
    """One row per searched model: the search's cost, its best validation value, and the
    model's test recall@k before and after (95% intervals), per evaluation context; "after"
    only when the refit's metrics come from this search (:func:`refit_of_search`). FF19's
    Word2Vec search (``word2vec_search``) has its own section: its best trials."""
    rows = {}
    done = measured(comparison)
    protocol = str(done["protocol"].iloc[0]) if len(done) else ""
    contexts = list(dict.fromkeys(done.loc[done["protocol"] == protocol, "context"]))
    for model, search in searches.items():
        results = search.results
        if model == LEGACY or results is None or results.empty:
            continue
        metric = next((c for c in results.columns if c.startswith("last_val_")), None)
        row: dict[str, str] = {
            "trials": f"{len(results):,}",
            "trial-hours": f"{results['wall_s'].fillna(0).sum() / 3600:.3g}",
            "complete": "yes" if _complete(results) else "no (interrupted)",
            "best validation": f"{results[metric].max():.3f}" if metric else "",
        }
        refitted = _complete(results) and refit_of_search(results, done, search.tuned)
        for context in contexts:
            for label, name in (("default", search.default), ("tuned", search.tuned)):
                mine = our_row(done, name, "recall", k, protocol=protocol, context=context)
                text = "" if mine is None else cell(mine)
                if label == "tuned" and mine is not None and not refitted:
                    text = "not refitted from this search"
                row[f"{label} recall@{k} ({context})"] = text
        rows[model] = row
    if not rows:
        return None
    return pd.DataFrame.from_dict(rows, orient="index")


#: The search whose trials the report lists (FF19's Word2Vec search).
def as_searches(tune_results: Any) -> dict[str, Search]:
    """The searches the report shows: a model -> :class:`Search` mapping as it is, or one
    table of trials (or None) as FF19's Word2Vec search."""
    if tune_results is None or isinstance(tune_results, pd.DataFrame):
        return {LEGACY: Search(tune_results, LEGACY, LEGACY)}
    return dict(tune_results)
