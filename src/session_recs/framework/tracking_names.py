"""What the parts of a tracked run are called in MLflow: metric names shared by every model
and the tune trials, a model's parameters, the ``kedro run``'s own run name.

Pure functions of tables and settings (no MLflow, no Kedro session), used by
:mod:`session_recs.framework.tracking` and tested on their own.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import pandas as pd

METRIC_COLUMNS = ("protocol", "context", "metric", "k", "value")
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value


def metric_name(metric: str, k: int) -> str:
    """The MLflow name of a metric at K, the same for every model: ``recall_at_10``."""
    return f"{metric}_at_{int(k)}"


def evaluation_metrics(metrics: pd.DataFrame) -> dict[str, float]:
    """A ``<model>_metrics`` table as one run's metrics, each evaluation's once:
    ``<protocol>.<context>.recall_at_10`` with its ``_ci_low`` and ``_ci_high``, and
    ``<protocol>.<context>.predictions_per_s``."""
    if not set(METRIC_COLUMNS) <= set(metrics.columns):
        return {}
    found: dict[str, float] = {}
    for row in metrics.to_dict("records"):
        if pd.isna(row["value"]):
            continue
        evaluation = f"{row['protocol']}.{row['context']}"
        name = f"{evaluation}.{metric_name(row['metric'], row['k'])}"
        found[name] = float(row["value"])
        for bound in ("ci_low", "ci_high"):
            if pd.notna(row.get(bound)):
                found[f"{name}_{bound}"] = float(row[bound])
        if pd.notna(row.get("predictions_per_s")):
            found[f"{evaluation}.predictions_per_s"] = float(row["predictions_per_s"])
    return found


def epoch_metrics(history: pd.DataFrame) -> dict[str, list[tuple[int, float]]]:
    """A training history's columns as stepped MLflow metrics (step = epoch):
    ``loss`` -> ``train_loss``, ``recall@10`` -> ``val_recall_at_10``, the same names as
    the tune trials', ``seconds`` -> ``epoch_seconds``."""
    if "epoch" not in history.columns:
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    for column in history.columns.drop("epoch"):
        if not pd.api.types.is_numeric_dtype(history[column]):
            continue
        name = str(column)
        if "@" in name:
            metric, _, k = name.partition("@")
            name = f"val_{metric_name(metric, int(k))}"
        else:
            name = {"loss": "train_loss", "seconds": "epoch_seconds"}.get(name, name)
        curves[name] = [
            (int(epoch), float(value))
            for epoch, value in zip(history["epoch"], history[column], strict=True)
            if pd.notna(value)
        ]
    return curves


def option_params(kind: str, options: dict[str, Any]) -> dict[str, str]:
    """A model's kind and options as MLflow parameters: ``kind`` and ``<kind>.<option>``
    (``session_knn.k``), so the compare view lines up runs of one kind (a model and its
    tuned refit) and never puts two kinds' same-named options in one row."""
    params = {"kind": kind}
    for name, value in options.items():
        params[f"{kind}.{name}"] = str(value)[:MAX_PARAM_LENGTH]
    return params


def typed_command(run_params: dict[str, Any]) -> str:
    """The command that started this run, as typed: ``kedro run --namespaces=session_knn``.

    From the command line (``kedro`` or ``python -m session_recs``) its own arguments; run
    through click in process (a test's CliRunner), the options given; from a notebook's
    ``session.run``, the pipelines it names.
    """
    import click
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    arguments = sys.argv[1:]
    if context is not None and context.info_name in arguments:
        return shlex.join(["kedro", *arguments])
    if context is not None:
        words = ["kedro", str(context.info_name)]
        for param in context.command.params:
            if context.get_parameter_source(str(param.name)) != ParameterSource.COMMANDLINE:
                continue
            option = max(param.opts, key=len)
            value = context.params[str(param.name)]
            if value is True:
                words.append(option)
            elif isinstance(value, dict):
                words.append(f"{option}={','.join(f'{k}={v}' for k, v in value.items())}")
            elif isinstance(value, list | tuple):
                words.append(f"{option}={','.join(map(str, value))}")
            else:
                words.append(f"{option}={value}")
        return shlex.join(words)
    names = run_params.get("pipeline_names") or ["__default__"]
    return "kedro run" + ("" if names == ["__default__"] else f" --pipelines={','.join(names)}")
