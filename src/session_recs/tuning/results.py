"""A finished search as tables, the best configuration, and figures.

- :func:`trial_history`: one row per reported epoch of every trial (retries included).
- :func:`trial_table`: one row per trial: its options, best and last validation
  metrics, epochs planned and run, wall and training time, the node it ended on, how many
  times it started, and its status (``TERMINATED``; ``ERROR`` after its last retry;
  ``NO_RESULT`` when the time budget stopped it before its first epoch; ``INTERRUPTED``
  when a signal stopped the search first).
- :func:`best_configuration`: the options of the best trial, as the ``{kind, options}``
  model mapping every model pipeline takes.
- :func:`curves_figure` and :func:`parameters_figure`: validation metric per epoch for
  every trial, and the metric against each searched hyperparameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from session_recs.core.errors import DataValidationError
from session_recs.evaluation import palette, plotly_theme
from session_recs.tuning.search_settings import METRICS, SearchSettings, metric_key

_FINISHED = ("TERMINATED", "ERROR")
#: The interactive curves' best trial and the others (Okabe-Ito's vermillion and sky blue,
#: the others half transparent): both read on kedro-viz's light and dark themes.
BEST_LINE = palette.OKABE_ITO[5]
TRIAL_LINE = "rgba(86, 180, 233, 0.5)"
HISTORY_COLUMNS = ["trial_id", "attempt", "epoch", "node_id", "node_ip", "time_total_s"]


def trial_history(results: Any, settings: SearchSettings) -> pd.DataFrame:
    """Every epoch every trial reported (``results``: a Ray Tune ``ResultGrid``).

    A trial restarted after a failure reports epoch 1 again; ``attempt`` counts those
    restarts (1 = first run).
    """
    metrics = [metric_key(m, settings.k) for m in METRICS]
    extra = ["loss", "train_s", "train_cpu_s", "eval_s", "setup_s"]
    columns = HISTORY_COLUMNS + metrics + extra
    frames = []
    for result in results:
        frame = result.metrics_dataframe
        if frame is None or frame.empty or "epoch" not in frame:
            continue
        frame = frame.reindex(columns=[c for c in columns if c != "attempt"]).copy()
        frame["trial_id"] = result.metrics.get("trial_id") or _trial_id(result)
        frame["attempt"] = (frame["epoch"] == 1).cumsum().clip(lower=1)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=columns)
    history = pd.concat(frames, ignore_index=True)[columns]
    return history.astype({"epoch": "int64", "attempt": "int64"})


def _trial_id(result: Any) -> str:
    return str(result.path).rstrip("/").rsplit("/", 1)[-1]


def trial_table(
    results: Any,
    settings: SearchSettings,
    history: pd.DataFrame,
    statuses: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per trial of ``results`` (a ``ResultGrid``), with ``history`` summarised.

    ``statuses`` (Tune's status per trial id) marks the trials an interrupted search left
    unfinished as ``INTERRUPTED``."""
    statuses = statuses or {}
    metric = settings.metric_name
    metrics = [metric_key(m, settings.k) for m in METRICS]
    rows = []
    for result in results:
        trial_id = result.metrics.get("trial_id") or _trial_id(result)
        config = {name: (result.config or {}).get(name) for name in settings.space}
        planned = config.get("epochs") or settings.max_epochs
        own = history[history["trial_id"] == trial_id]
        # Only the last attempt's epochs describe the trial's final model.
        final = own[own["attempt"] == own["attempt"].max()] if len(own) else own
        # A trial the time budget stopped before its first epoch has nothing to show.
        status = "ERROR" if result.error else "TERMINATED" if len(own) else "NO_RESULT"
        if not result.error and statuses.get(trial_id, "TERMINATED") not in _FINISHED:
            status = "INTERRUPTED"
        row: dict[str, Any] = {
            "trial_id": trial_id,
            "status": status,
            **{f"config/{name}": value for name, value in config.items()},
            "epochs_planned": int(planned),
            "epochs_run": int(final["epoch"].max()) if len(final) else 0,
        }
        row["stopped_early"] = row["epochs_run"] < row["epochs_planned"]
        best = final.loc[final[metric].idxmax()] if final[metric].notna().any() else None
        for name in metrics:
            row[f"best_{name}"] = float(best[name]) if best is not None else math.nan
            row[f"last_{name}"] = float(final[name].iloc[-1]) if len(final) else math.nan
        row["best_epoch"] = int(best["epoch"]) if best is not None else 0
        row["wall_s"] = float(final["time_total_s"].max()) if len(final) else math.nan
        row["train_s"] = float(own["train_s"].sum())
        row["train_cpu_s"] = float(own["train_cpu_s"].sum())
        row["node_ip"] = final["node_ip"].iloc[-1] if len(final) else None
        row["node_id"] = final["node_id"].iloc[-1] if len(final) else None
        row["attempts"] = int(own["attempt"].max()) if len(own) else 0
        row["error"] = str(result.error).splitlines()[0] if result.error else None
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(f"last_{metric}", ascending=False, kind="stable").reset_index(
        drop=True
    )


def _typed(settings: SearchSettings, name: str, value: Any) -> Any:
    """A table cell back as the option's value (a trial without results makes the
    table's integer columns float; models want ints, and null stays null)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    option = settings.searchable.get(name)
    if option is not None and option.is_numeric:
        return option.type(value)
    return value


def best_configuration(
    table: pd.DataFrame, settings: SearchSettings, *, complete: bool = True
) -> dict[str, Any]:
    """The best trial's options, as ``{"model": {kind, options}, "search": {...}}``.

    Trials are ranked by the metric at their last epoch, and those that ran all their
    epochs come first: their configuration, retrained, gives the same model. A trial cut
    short (by ASHA or the time budget) only wins when no trial finished; its options then
    carry the epochs it actually ran. ``complete=False`` marks a search that was stopped
    (interrupted) before it ran every trial: ``search.complete`` is then false, and
    nothing is refitted from it.
    """
    metric = settings.metric_name
    scored = table[table["status"].eq("TERMINATED") & table[f"last_{metric}"].notna()]
    if scored.empty:
        if settings.time_budget_s is not None and not table["status"].eq("ERROR").any():
            raise DataValidationError(
                f"No trial of {settings.model} reported a validation score before the "
                f"search's time budget ran out (tune.time_budget_s = {settings.time_budget_s}"
                "); a busy machine starts trials slowly: raise it, e.g. "
                "--params=tune.time_budget_s=300."
            )
        raise DataValidationError(
            "The search produced no trial with a validation score; see tune_results "
            "(column 'error') and the Ray logs under tune.storage_path."
        )
    ranked = scored.assign(complete=~scored["stopped_early"]).sort_values(
        ["complete", f"last_{metric}"], ascending=False, kind="stable"
    )
    best = ranked.iloc[0]
    searched = {name: _typed(settings, name, best[f"config/{name}"]) for name in settings.space}
    resource = settings.resource
    options = {**settings.fixed, **searched}
    if resource:
        options[resource] = (
            int(best["epochs_run"]) if best["stopped_early"] else int(best["epochs_planned"])
        )
        options["seed"] = settings.seed
    return {
        "model": {"kind": settings.kind, "options": options},
        "search": {
            "model": settings.model,
            "preset": settings.preset,
            "trial_id": best["trial_id"],
            "metric": metric,
            "context": settings.context,
            "value": float(best[f"last_{metric}"]),
            "best_epoch_value": float(best[f"best_{metric}"]),
            "epochs_run": int(best["epochs_run"]),
            "completed": bool(not best["stopped_early"]),
            "complete": bool(complete),
            "trials": len(table),
            "trial_hours": float(table["wall_s"].fillna(0).sum()) / 3600,
        },
    }


def curves_figure(history: pd.DataFrame, settings: SearchSettings) -> Figure:
    """Validation metric per epoch, one line per trial (the best trial highlighted)."""
    metric = settings.metric_name
    figure = Figure(figsize=(8, 4.5))
    axes = figure.add_subplot()
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    axes.set_ylabel(f"validation {metric[4:]}")
    if history.empty:
        axes.text(0.5, 0.5, "no trial reported a result", ha="center", va="center")
        return figure
    final = history[history["attempt"] == history.groupby("trial_id")["attempt"].transform("max")]
    last = final.groupby("trial_id")[metric].last()
    best_trial = last.idxmax() if last.notna().any() else None
    for trial_id, trial in final.groupby("trial_id", sort=False):
        if trial_id == best_trial:
            continue
        # Markers: a trial of one epoch (one-shot models, early stops) is a point, not a line.
        axes.plot(
            trial["epoch"], trial[metric], color="tab:blue", alpha=0.3, linewidth=0.8,
            marker="o", markersize=3,
        )  # fmt: skip
    if best_trial is not None:
        trial = final[final["trial_id"] == best_trial]
        axes.plot(
            trial["epoch"], trial[metric], color="tab:red", linewidth=2, marker="o",
            markersize=4, label=best_trial,
        )  # fmt: skip
        axes.legend(loc="lower right", title="best trial")
    axes.set_title(f"{settings.model}: {final['trial_id'].nunique()} trials ({settings.preset})")
    figure.tight_layout()
    return figure


def curves_chart(
    history: pd.DataFrame, table: pd.DataFrame | None, settings: SearchSettings
) -> Any:
    """The interactive (plotly) :func:`curves_figure`: a line per trial, its searched
    configuration on hover, the best trial in red; for kedro-viz."""
    import plotly.graph_objects as go

    metric = settings.metric_name
    figure = go.Figure()
    figure.update_layout(
        xaxis={"title": "epoch", "dtick": 1}, yaxis={"title": f"validation {metric[4:]}"}
    )
    if history.empty:
        figure.add_annotation(text="no trial reported a result", showarrow=False)
        return plotly_theme.theme_neutral(figure)
    final = history[history["attempt"] == history.groupby("trial_id")["attempt"].transform("max")]
    last = final.groupby("trial_id")[metric].last()
    best_trial = last.idxmax() if last.notna().any() else None
    configs: dict[str, str] = {}
    if table is not None and not table.empty:
        columns = [c for c in table.columns if c.startswith("config/")]
        for row in table.to_dict("records"):
            configs[row["trial_id"]] = "<br>".join(
                f"{c.removeprefix('config/')} = {row[c]}" for c in columns
            )
    for trial_id, trial in final.groupby("trial_id", sort=False):
        best = trial_id == best_trial
        figure.add_trace(
            go.Scatter(
                x=trial["epoch"],
                y=trial[metric],
                mode="lines+markers",
                name=f"{trial_id} (best)" if best else str(trial_id),
                line={"color": BEST_LINE if best else TRIAL_LINE, "width": 3 if best else 1},
                hovertemplate=(
                    f"{trial_id}<br>epoch %{{x}}: %{{y:.4f}}<br>{configs.get(trial_id, '')}"
                    "<extra></extra>"
                ),
                showlegend=best,
            )
        )  # fmt: skip
    figure.update_layout(
        title=f"{settings.model}: {final['trial_id'].nunique()} trials ({settings.preset})"
    )
    return plotly_theme.theme_neutral(figure)


def parameters_figure(table: pd.DataFrame, settings: SearchSettings) -> Figure:
    """The metric at each trial's last epoch against each searched hyperparameter."""
    metric = settings.metric_name
    names = list(settings.space)
    columns = max(1, min(3, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    # Constrained layout keeps axis labels, the colour bar and the title inside the image.
    figure = Figure(figsize=(4 * columns, 3.2 * rows), layout="constrained")
    if table.empty or not names:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no searched hyperparameter", ha="center", va="center")
        return figure
    scored = table[table[f"last_{metric}"].notna()]
    for i, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, i + 1)
        image = axes.scatter(
            scored[f"config/{name}"],
            scored[f"last_{metric}"],
            c=scored["epochs_run"],
            cmap="viridis",
            s=18,
        )
        if settings.space[name].kind in ("loguniform", "logint"):
            axes.set_xscale("log")
        axes.set_xlabel(name)
        axes.set_ylabel(metric[4:] if i % columns == 0 else "")
    figure.colorbar(
        image, ax=figure.axes, label="epochs run", shrink=0.8,
        ticks=MaxNLocator(integer=True),
    )  # fmt: skip
    figure.suptitle(f"{settings.model}: validation {metric[4:]} at the last epoch, per trial")
    return figure
