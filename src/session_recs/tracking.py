"""Experiment tracking with MLflow, through kedro-mlflow (the optional ``mlflow`` extra).

Off unless the run's configuration has an ``mlflow.yml`` (``kedro run --env=mlflow``
reads ``conf/mlflow/mlflow.yml``; ``kedro mlflow init`` writes one to ``conf/local`` to
track every run). Then :class:`MlflowTrackingHooks` runs kedro-mlflow's hook, which opens
one MLflow run per ``kedro run`` and logs the parameters every node reads, and adds:

- every ``<model>_metrics`` table as metrics ``<model>.<protocol>.<context>.<metric>_at_<k>``
  (e.g. ``session_knn.last_pair.last_item.recall_at_10``);
- every saved dataset of the ``reporting`` layer (the model comparison, its Markdown,
  HTML and plot, learning curves) as an artifact under ``reporting/``;
- the tune pipeline's trials, one nested run each, through Ray Tune's
  ``MLflowLoggerCallback`` (:func:`tune_callbacks`).

kedro-mlflow's own plugin hook is disabled in settings.py so that merely installing the
extra changes nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from session_recs.config import Settings
from session_recs.data.datasets import OptionalDataset
from session_recs.errors import ConfigError

logger = logging.getLogger(__name__)

#: kedro-mlflow's config pattern: mlflow.yml (or mlflow*/...) in any active environment.
CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
METRICS_SUFFIX = "_metrics"
METRIC_COLUMNS = ("protocol", "context", "metric", "k", "value")
ARTIFACT_LAYER = "reporting"


@dataclass(frozen=True)
class TrackingRun:
    """The MLflow run a ``kedro run`` logs to."""

    tracking_uri: str
    experiment_name: str
    run_id: str


_active: TrackingRun | None = None


def active_run() -> TrackingRun | None:
    """The MLflow run of the pipeline running in this process, if tracking is on."""
    return _active


def metric_values(model: str, metrics: pd.DataFrame) -> dict[str, float]:
    """``<model>.<protocol>.<context>.<metric>_at_<k>`` -> value for a ``<model>_metrics`` table."""
    if not set(METRIC_COLUMNS) <= set(metrics.columns):
        return {}
    return {
        f"{model}.{row.protocol}.{row.context}.{row.metric}_at_{int(row.k)}": float(row.value)
        for row in metrics.itertuples(index=False)
        if pd.notna(row.value)
    }


def tune_callbacks(experiment: str) -> list[Any]:
    """Ray Tune callbacks that log each trial of ``experiment`` as a nested MLflow run.

    Empty when tracking is off, so the tune runner can always add them.
    """
    run = active_run()
    if run is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class TrialRuns(MLflowLoggerCallback):
        """Ray's MLflow callback, ending the runs of trials a stopped search left open
        (as KILLED) instead of leaving them RUNNING."""

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            super().on_experiment_end(trials, **info)
            for trial, run_id in list(self._trial_runs.items()):
                if trial.status not in ("TERMINATED", "ERROR"):
                    self.mlflow_util.end_run(run_id=run_id, status="KILLED")

    return [
        TrialRuns(
            tracking_uri=run.tracking_uri,
            experiment_name=run.experiment_name,
            tags={"mlflow.parentRunId": run.run_id, "tune_experiment": experiment},
            save_artifact=False,
        )
    ]


def _saved_path(dataset: Any) -> Path | None:
    """The local file a (versioned) dataset has just written, if it has one.

    Kedro has no public API for the file a versioned dataset wrote: this relies on
    ``_get_versioned_path`` and ``_filepath`` (tests/test_tracking.py pins it: the report
    files arrive as MLflow artifacts).
    """
    if isinstance(dataset, OptionalDataset):
        dataset = dataset.wrapped
    try:
        version = dataset.resolve_save_version() if getattr(dataset, "_version", None) else None
        path = dataset._get_versioned_path(version) if version else None
    except Exception:  # not a versioned file dataset: fall back to its plain path
        path = None
    path = Path(str(path or getattr(dataset, "_filepath", "") or ""))
    return path if str(path) not in ("", ".") and path.exists() else None


def _layer(dataset: Any) -> str | None:
    metadata = getattr(dataset, "metadata", None) or {}
    return (metadata.get("kedro-viz") or {}).get("layer")


class MlflowTrackingHooks:
    """kedro-mlflow's hook when an ``mlflow.yml`` is configured, plus metrics and reports."""

    def __init__(self) -> None:
        self._mlflow_hook: Any = None
        self._catalog: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Start kedro-mlflow when the configuration has an mlflow.yml; else stay off."""
        global _active
        self._mlflow_hook, self._catalog, _active = None, None, None
        loader = context.config_loader
        if "mlflow" not in loader.config_patterns:
            loader.config_patterns.update({"mlflow": CONFIG_PATTERNS})
        try:
            loader["mlflow"]
        except MissingConfigException:
            return
        try:
            from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
        except ImportError as exc:
            raise ConfigError(
                f"The configuration (env {context.env!r}) has an mlflow.yml, so MLflow "
                "tracking is on, but kedro-mlflow is not installed: pip install -e '.[mlflow]'."
            ) from exc
        # MLflow 3 refuses a plain folder as tracking store unless asked; mlruns/ is ours.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self._mlflow_hook = MlflowHook()
        self._mlflow_hook.after_context_created(context)

    @hook_impl
    def after_catalog_created(  # noqa: PLR0917 (Kedro's hook signature)
        self,
        catalog: Any,
        conf_catalog: dict[str, Any],
        conf_creds: dict[str, Any],
        parameters: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str],
    ) -> None:
        if self._mlflow_hook is not None:
            self._mlflow_hook.after_catalog_created(
                catalog, conf_catalog, conf_creds, parameters, save_version, load_versions
            )

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Open the MLflow run (kedro-mlflow) and note it for the tune callbacks."""
        global _active  # noqa: PLW0603
        if self._mlflow_hook is None:
            return
        self._mlflow_hook.before_pipeline_run(
            run_params=run_params, pipeline=pipeline, catalog=catalog
        )
        if self._mlflow_hook.run_id is None:  # tracking disabled for this pipeline
            return
        import mlflow

        config = self._mlflow_hook.mlflow_config
        self._catalog = catalog
        _active = TrackingRun(
            mlflow.get_tracking_uri(), config.tracking.experiment.name, self._mlflow_hook.run_id
        )
        logger.info("MLflow run %s (%s)", _active.run_id, _active.tracking_uri)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict, is_async: bool) -> None:
        """Log the node's parameters; typed sections as their plain values, key by key."""
        if self._mlflow_hook is not None:
            plain = {
                name: value.model_dump() if isinstance(value, Settings) else value
                for name, value in inputs.items()
            }
            self._mlflow_hook.before_node_run(
                node=node, catalog=catalog, inputs=plain, is_async=is_async
            )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        """Log metrics tables as metrics and reporting-layer files as artifacts."""
        run = active_run()
        if run is None:
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient(run.tracking_uri)
        if dataset_name.endswith(METRICS_SUFFIX) and isinstance(data, pd.DataFrame):
            values = metric_values(dataset_name.removesuffix(METRICS_SUFFIX), data)
            for key, value in values.items():
                client.log_metric(run.run_id, key, value)
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        if dataset is not None and _layer(dataset) == ARTIFACT_LAYER:
            path = _saved_path(dataset)
            if path is not None and path.is_file():
                client.log_artifact(run.run_id, str(path), ARTIFACT_LAYER)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        global _active  # noqa: PLW0603
        if self._mlflow_hook is not None:
            self._mlflow_hook.after_pipeline_run(
                run_params=run_params, pipeline=pipeline, catalog=catalog
            )
        _active = None

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        global _active  # noqa: PLW0603
        if self._mlflow_hook is not None and _active is not None:
            self._mlflow_hook.on_pipeline_error(
                error=error, run_params=run_params, pipeline=pipeline, catalog=catalog
            )
        _active = None
