"""Experiment tracking with MLflow, through kedro-mlflow (the optional ``mlflow`` extra).

Off unless the run's configuration has an ``mlflow.yml`` (``kedro run --env=mlflow``
reads ``conf/mlflow/mlflow.yml``; ``kedro mlflow init`` writes one to ``conf/local`` to
track every run). Then :class:`MlflowTrackingHooks` runs kedro-mlflow's hook, which opens
one MLflow run per ``kedro run`` (tagged with the dataset) and logs the shared parameters
its nodes read (split, evaluation, report, tune, ...), and adds under it:

- a nested run per model (run name and tag ``model``; tags ``kind``, ``dataset``,
  ``protocol``, ``context``) with the model's own parameters (``kind``,
  ``options.<name>``), its training history as stepped metrics (``train_loss``,
  ``val_recall_at_10`` by epoch), its learning curve, its fitted recommender as an MLflow
  pyfunc model (``runs:/<run id>/model``, served by ``mlflow models serve``: see
  :mod:`session_recs.models.pyfunc`), and the metrics of its headline evaluation;
- under each model run, a run per evaluation (tags ``protocol`` and ``context``), with
  metric names shared by every model: ``recall_at_10``, ``recall_at_10_ci_low``,
  ``recall_at_10_ci_high``, ``mrr_at_20``, ... so that MLflow's compare view puts
  models side by side (filter e.g. ``tags.protocol = 'last_pair' and tags.context =
  'session'``);
- the reporting layer's files (the comparison, its Markdown, HTML and plot) as artifacts
  of the ``kedro run``'s run, under ``reporting/``;
- the tune pipeline's trials, one nested run each, through Ray Tune's
  ``MLflowLoggerCallback`` (:func:`tune_callbacks`), with the same per-epoch names.

kedro-mlflow's own plugin hook is disabled in settings.py so that merely installing the
extra changes nothing.

(Over 400 lines: one hook class follows a run's whole life, from its parameters to each
model's nested runs, its evaluations and the report's files.)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError
from session_recs.framework.datasets import OptionalDataset
from session_recs.models.registry import refit_of
from session_recs.tuning.trial_runs import TrackingRun, active_run, set_active_run

logger = logging.getLogger(__name__)

#: kedro-mlflow's config pattern: mlflow.yml (or mlflow*/...) in any active environment.
CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
METRICS_SUFFIX = ".metrics"
METRIC_COLUMNS = ("protocol", "context", "metric", "k", "value")
ARTIFACT_LAYER = "reporting"
HISTORY = ".training_history"
RECOMMENDER = ".recommender"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value


def metric_name(metric: str, k: int) -> str:
    """The MLflow name of a metric at K, the same for every model: ``recall_at_10``."""
    return f"{metric}_at_{int(k)}"


def evaluation_metrics(metrics: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    """(protocol, context) -> ``recall_at_10``, ``recall_at_10_ci_low``, ``_ci_high``, ...
    for a ``<model>.metrics`` table: one MLflow run's metrics per evaluation."""
    if not set(METRIC_COLUMNS) <= set(metrics.columns):
        return {}
    found: dict[tuple[str, str], dict[str, float]] = {}
    for row in metrics.to_dict("records"):
        if pd.isna(row["value"]):
            continue
        values = found.setdefault((str(row["protocol"]), str(row["context"])), {})
        name = metric_name(row["metric"], row["k"])
        values[name] = float(row["value"])
        for bound in ("ci_low", "ci_high"):
            if pd.notna(row.get(bound)):
                values[f"{name}_{bound}"] = float(row[bound])
        if pd.notna(row.get("predictions_per_s")):
            values["predictions_per_s"] = float(row["predictions_per_s"])
    return found


def headline(evaluations: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The evaluation a model's own run shows (the report's summary's): the first
    protocol, in its ``session`` context when measured."""
    if not evaluations:
        return None
    protocol = evaluations[0][0]
    contexts = [context for p, context in evaluations if p == protocol]
    return protocol, "session" if "session" in contexts else contexts[0]


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


def _saved_path(dataset: Any) -> Path | None:
    """The local file a (versioned) dataset has just written, if it has one.

    Kedro has no public API for the file a versioned dataset wrote: this relies on
    ``_get_versioned_path`` and ``_filepath`` (tests/framework/test_tracking.py pins it: the report
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


class ModelRuns:
    """The nested MLflow runs of one ``kedro run``: one per model (its parameters, curves,
    fitted model and headline metrics), and under it one per evaluation (protocol and
    context) with the same metric names for every model."""

    def __init__(self, client: Any, parent: TrackingRun, dataset: str) -> None:
        self.client, self.parent, self.dataset = client, parent, dataset
        self.experiment_id = client.get_run(parent.run_id).info.experiment_id
        self.models: dict[str, str] = {}
        self.evaluations: dict[tuple[str, str, str], str] = {}
        self.evaluated: set[str] = set()  # models whose metrics are logged: their run is done

    def model(self, model: str) -> str:
        """The run of ``model`` (created on first use)."""
        if model not in self.models:
            self.models[model] = self._create(
                model, self.parent.run_id, {"model": model, "dataset": self.dataset}
            )
        return self.models[model]

    def evaluation(self, model: str, protocol: str, context: str) -> str:
        key = (model, protocol, context)
        if key not in self.evaluations:
            tags = {"model": model, "dataset": self.dataset, "protocol": protocol}
            self.evaluations[key] = self._create(
                f"{model} {protocol} {context}", self.model(model), {**tags, "context": context}
            )
        return self.evaluations[key]

    def _create(self, name: str, parent: str, tags: dict[str, str]) -> str:
        tags = {"mlflow.parentRunId": parent, **tags}
        return self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id

    def log_metrics(self, run_id: str, values: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        for at in range(0, len(metrics), 1000):  # MLflow's batch limit
            self.client.log_batch(run_id, metrics=metrics[at : at + 1000])

    def end(self, status: str) -> None:
        """End every run this ``kedro run`` opened: an evaluated model's and the
        evaluations' as ``FINISHED``, the others' as ``status`` (``FAILED``, ``KILLED``)."""
        for run_id in self.evaluations.values():
            self.client.set_terminated(run_id, "FINISHED")
        for model, run_id in self.models.items():
            self.client.set_terminated(run_id, "FINISHED" if model in self.evaluated else status)


def model_of(dataset_name: str) -> str | None:
    """The model a dataset belongs to: ``<model>.<output>`` (``<model>.metrics``)."""
    namespace, dot, _ = dataset_name.rpartition(".")
    return namespace if dot and "." not in namespace else None


def _plain_params(prefix: str, value: Any) -> dict[str, str]:
    """A parameter section as MLflow parameters, one per setting (``options.m``)."""
    if isinstance(value, Settings):
        value = value.model_dump()
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat |= _plain_params(f"{prefix}.{key}" if prefix else str(key), item)
        return flat
    return {prefix: str(value)[:MAX_PARAM_LENGTH]}


_open: ModelRuns | None = None  # the model runs of the kedro run in progress


def end_interrupted() -> None:
    """End the runs of a ``kedro run`` stopped by Ctrl-C: the unfinished ones as KILLED.

    Kedro passes only Exceptions to ``on_pipeline_error``, not a KeyboardInterrupt; the
    project's session calls this instead (session_recs/framework/session.py).
    """
    global _open  # noqa: PLW0603
    if _open is not None:
        _open.end("KILLED")
    if active_run() is not None:
        import mlflow

        # kedro-mlflow may have resumed the run once more per node: end every level.
        for _ in range(100):
            if mlflow.active_run() is None:
                break
            mlflow.end_run(status="KILLED")
    set_active_run(None)
    _open = None


class MlflowTrackingHooks:
    """kedro-mlflow's hook when an ``mlflow.yml`` is configured, plus a nested run per
    model (:class:`ModelRuns`), its fitted model, curves and metrics, and the reports."""

    def __init__(self) -> None:
        self._mlflow_hook: Any = None
        self._catalog: Any = None
        self._runs: ModelRuns | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Start kedro-mlflow when the configuration has an mlflow.yml; else stay off."""
        self._mlflow_hook, self._catalog, self._runs = None, None, None
        set_active_run(None)
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
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
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
        """Open the MLflow run (kedro-mlflow) and note it for the model runs and the tune
        callbacks."""
        if self._mlflow_hook is None:
            return
        self._mlflow_hook.before_pipeline_run(
            run_params=run_params, pipeline=pipeline, catalog=catalog
        )
        if self._mlflow_hook.run_id is None:  # tracking disabled for this pipeline
            return
        import mlflow
        from mlflow.tracking import MlflowClient

        config = self._mlflow_hook.mlflow_config
        self._catalog = catalog
        run = TrackingRun(
            mlflow.get_tracking_uri(), config.tracking.experiment.name, self._mlflow_hook.run_id
        )
        set_active_run(run)
        dataset = str(catalog.load("params:dataset")) if "params:dataset" in catalog else ""
        mlflow.set_tag("dataset", dataset)
        self._runs = ModelRuns(MlflowClient(run.tracking_uri), run, dataset)
        global _open  # noqa: PLW0603
        _open = self._runs
        logger.info("MLflow run %s (%s)", run.run_id, run.tracking_uri)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict, is_async: bool) -> None:
        """Log the node's parameters: a model's own (``params:<model>.model``) to its run,
        the others to the ``kedro run``'s, as plain values key by key."""
        if self._mlflow_hook is None:
            return
        from mlflow.entities import Param

        shared = {}
        for name, value in inputs.items():
            model = _model_params_of(name) or _chosen_by_search(node, name, value)
            if model is not None and self._runs is not None:
                spec = value["model"] if _chosen_by_search(node, name, value) else value
                run_id = self._runs.model(model)
                params = _plain_params("", spec)
                self._runs.client.log_batch(
                    run_id, params=[Param(key, text) for key, text in params.items()]
                )
                if "kind" in params:
                    self._runs.client.set_tag(run_id, "kind", params["kind"])
            elif name.startswith("params:"):
                shared[name] = value.model_dump() if isinstance(value, Settings) else value
        self._mlflow_hook.before_node_run(
            node=node, catalog=catalog, inputs=shared, is_async=is_async
        )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        """Log what a model's datasets hold to its run (metrics, curves, the fitted model,
        its learning curve), and other reporting-layer files to the ``kedro run``'s."""
        run, runs = active_run(), self._runs
        if run is None or runs is None:
            return
        model = model_of(dataset_name)
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        if model is not None and dataset_name.endswith(METRICS_SUFFIX):
            self._log_evaluations(runs, model, data)
        elif model is not None and dataset_name.endswith(HISTORY):
            if isinstance(data, pd.DataFrame):
                for name, steps in epoch_metrics(data).items():
                    for epoch, value in steps:
                        runs.client.log_metric(runs.model(model), name, value, step=epoch)
        elif model is not None and dataset_name.endswith(RECOMMENDER):
            self._log_model(runs, model, dataset)
        if dataset is not None and _layer(dataset) == ARTIFACT_LAYER:
            path = _saved_path(dataset)
            if path is not None and path.is_file():
                owner = runs.model(model) if model is not None else run.run_id
                runs.client.log_artifact(owner, str(path), ARTIFACT_LAYER)

    def _log_evaluations(self, runs: ModelRuns, model: str, metrics: Any) -> None:
        if not isinstance(metrics, pd.DataFrame):
            return
        evaluations = evaluation_metrics(metrics)
        for (protocol, context), values in evaluations.items():
            runs.log_metrics(runs.evaluation(model, protocol, context), values)
        main = headline(list(evaluations))
        runs.evaluated.add(model)
        if main is not None:
            run_id = runs.model(model)
            runs.log_metrics(run_id, evaluations[main])
            runs.client.set_tag(run_id, "protocol", main[0])
            runs.client.set_tag(run_id, "context", main[1])

    def _log_model(self, runs: ModelRuns, model: str, dataset: Any) -> None:
        """The fitted recommender as an MLflow pyfunc model (``runs:/<run>/model``)."""
        import mlflow

        from session_recs.models import pyfunc as serving

        path = _saved_path(dataset) if dataset is not None else None
        if path is None or not path.is_file():
            return
        run_id = runs.model(model)
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its per-model INFO lines
        with mlflow.start_run(run_id=run_id, nested=True):
            logged = serving.log_model(path, model=model)
        runs.client.set_tag(run_id, "model_uri", logged.model_uri)
        runs.client.update_run(run_id, status="RUNNING")  # open until the kedro run ends

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if self._runs is not None:
            self._runs.end("FINISHED")
        if self._mlflow_hook is not None:
            self._mlflow_hook.after_pipeline_run(
                run_params=run_params, pipeline=pipeline, catalog=catalog
            )
        set_active_run(None)
        self._runs = None
        _forget_open_runs()

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        if self._runs is not None:
            self._runs.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        if self._mlflow_hook is not None and active_run() is not None:
            self._mlflow_hook.on_pipeline_error(
                error=error, run_params=run_params, pipeline=pipeline, catalog=catalog
            )
        set_active_run(None)
        self._runs = None
        _forget_open_runs()


def _forget_open_runs() -> None:
    global _open  # noqa: PLW0603
    _open = None


def _chosen_by_search(node: Any, input_name: str, value: Any) -> str | None:
    """The model a search's chosen configuration (``<model>.best_params``, read by a
    ``<model>_tuned`` refit) configures, if this input is one."""
    namespace = getattr(node, "namespace", None) or ""
    if not refit_of(namespace) or not input_name.endswith("best_params"):
        return None
    if not isinstance(value, dict):
        return None
    return namespace if isinstance(value.get("model"), dict) else None


def _model_params_of(input_name: str) -> str | None:
    """``params:<model>.model`` -> ``<model>``."""
    name = input_name.removeprefix("params:")
    if name == input_name or not name.endswith(".model"):
        return None
    model = name.removesuffix(".model")
    return model if model and "." not in model else None
