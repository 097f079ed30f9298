"""Experiment tracking with MLflow, through kedro-mlflow (the optional ``mlflow`` extra).

Off unless the run's configuration has an ``mlflow.yml`` (``kedro run --env=mlflow``
reads ``conf/mlflow/mlflow.yml``; ``kedro mlflow init`` writes one to ``conf/local`` to
track every run). Then :class:`MlflowTrackingHooks` runs kedro-mlflow's hook, which opens
one MLflow run per ``kedro run`` in the dataset's experiment (``session_recs/<dataset>``:
``mlflow.yml`` names it through the ``session_recs.dataset`` resolver), named after the
command typed (``kedro run --namespaces=session_knn``, also its ``kedro_command`` tag),
logging the shared parameters its nodes read (split, evaluation, report, tune, ...); and
adds under it:

- a nested run per model (run name and tag ``model``; tags ``kind``, ``dataset``) with
  the model's kind and every option with the value in force, defaults and presets
  resolved (``kind``, ``<kind>.<option>``: ``session_knn.k``), its own ``fit_seconds`` and
  ``evaluate_seconds``, its training history as stepped metrics (``train_loss``,
  ``val_recall_at_10`` by epoch), its learning curve, its fitted recommender as an MLflow
  pyfunc model (``runs:/<run id>/model``, served by ``mlflow models serve``: see
  :mod:`session_recs.models.pyfunc`), and each evaluation's metrics once, named
  ``<protocol>.<context>.<metric>_at_<k>`` (``last_pair.session.recall_at_10``, its
  ``_ci_low`` and ``_ci_high``), the same names for every model, so MLflow's compare view
  lines models up one run each (filter ``tags.model != ''``); the run ends when the
  model's evaluation does (Kedro fits every model before evaluating any, so its seconds,
  not its duration, are the model's own);
- the reporting layer's files (the comparison, its Markdown, HTML and plot) as artifacts
  of the ``kedro run``'s run, under ``reporting/``;
- the tune pipeline's trials, one nested run each, through Ray Tune's
  ``MLflowLoggerCallback`` (:func:`tune_callbacks`), with the same per-epoch names.

kedro-mlflow's own plugin hook is disabled in settings.py so that merely installing the
extra changes nothing. docs/mlflow.md is the user's guide.

(Over 400 lines: one hook class follows a run's whole life, from its parameters to each
model's nested run, its evaluations and the report's files.)
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError
from session_recs.framework.datasets import OptionalDataset
from session_recs.framework.tracking_names import (
    epoch_metrics,
    evaluation_metrics,
    option_params,
    typed_command,
)
from session_recs.models import ModelSpec, describe_model
from session_recs.models.registry import refit_of
from session_recs.tuning.trial_runs import TrackingRun, active_run, set_active_run

logger = logging.getLogger(__name__)

#: kedro-mlflow's config pattern: mlflow.yml (or mlflow*/...) in any active environment.
CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
#: The OmegaConf resolver mlflow.yml names the experiment with: ``${session_recs.dataset:}``.
DATASET_RESOLVER = "session_recs.dataset"
METRICS_SUFFIX = ".metrics"
ARTIFACT_LAYER = "reporting"
HISTORY = ".training_history"
RECOMMENDER = ".recommender"
MAX_RUN_NAME = 250  # MLflow's SQL stores keep run names in 250 characters
#: A model's nodes whose own seconds its run records, by node name without namespace.
TIMED_NODES = {"fit_recommender": "fit_seconds", "evaluate_recommender": "evaluate_seconds"}


def spec_params(spec: Any) -> dict[str, str]:
    """The parameters of a model's ``model`` settings (kind and options), every option at
    its value in force (a default, a preset's value); empty for one whose options come from
    the tune search (``from_search``: logged from the fitted model instead)."""
    spec = ModelSpec.model_validate(spec)
    if spec.from_search:
        return {}
    try:
        kind, options = describe_model(spec.build())
    except ConfigError:  # e.g. its extra is missing: the fit says so in one line
        kind, options = spec.kind, dict(spec.options)
    return option_params(kind, options)


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
    """The nested MLflow runs of one ``kedro run``, one per model: its parameters, curves,
    fitted model, own seconds and every evaluation's metrics."""

    def __init__(self, client: Any, parent: TrackingRun, dataset: str) -> None:
        self.client, self.parent, self.dataset = client, parent, dataset
        self.experiment_id = client.get_run(parent.run_id).info.experiment_id
        self.models: dict[str, str] = {}
        self.params: dict[str, dict[str, str]] = {}  # run id -> the parameters logged
        self.finished: set[str] = set()  # models whose evaluation ended: their run is done

    def model(self, model: str) -> str:
        """The run of ``model`` (created on first use)."""
        if model not in self.models:
            tags = {"mlflow.parentRunId": self.parent.run_id, "model": model}
            run = self.client.create_run(
                self.experiment_id, run_name=model, tags={**tags, "dataset": self.dataset}
            )
            self.models[model] = run.info.run_id
        return self.models[model]

    def log_params(self, model: str, params: dict[str, str]) -> None:
        """Log ``params`` to ``model``'s run, each once: MLflow refuses to change one, so a
        value logged before (from its settings, before the fit) stays."""
        from mlflow.entities import Param

        run_id = self.model(model)
        logged = self.params.setdefault(run_id, {})
        new = {key: value for key, value in params.items() if key not in logged}
        if new:
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in new.items()])
            logged.update(new)
        if "kind" in new:
            self.client.set_tag(run_id, "kind", new["kind"])

    def log_metrics(self, run_id: str, values: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        for at in range(0, len(metrics), 1000):  # MLflow's batch limit
            self.client.log_batch(run_id, metrics=metrics[at : at + 1000])

    def finish(self, model: str) -> None:
        """End ``model``'s run as FINISHED once it is evaluated: its duration is its own
        (later files, such as its learning curve, may still be added to it)."""
        if model in self.models and model not in self.finished:
            self.client.set_terminated(self.models[model], "FINISHED")
            self.finished.add(model)

    def end(self, status: str) -> None:
        """End the model runs this ``kedro run`` left open with ``status`` (``FINISHED``,
        ``FAILED``, ``KILLED``); the evaluated ones are already FINISHED."""
        for model, run_id in self.models.items():
            if model not in self.finished:
                self.client.set_terminated(run_id, status)


def model_of(dataset_name: str) -> str | None:
    """The model a dataset belongs to: ``<model>.<output>`` (``<model>.metrics``)."""
    namespace, dot, _ = dataset_name.rpartition(".")
    return namespace if dot and "." not in namespace else None


def _is_metrics(dataset_name: str) -> bool:
    """A model's metrics table: ``<model>.metrics``."""
    return dataset_name.endswith(METRICS_SUFFIX)


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
    model (:class:`ModelRuns`), its fitted model, curves, seconds and metrics, and the
    reports."""

    def __init__(self) -> None:
        self._mlflow_hook: Any = None
        self._catalog: Any = None
        self._runs: ModelRuns | None = None
        self._started: dict[str, float] = {}  # timed node -> when it started

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Start kedro-mlflow when the configuration has an mlflow.yml; else stay off."""
        self._mlflow_hook, self._catalog, self._runs = None, None, None
        set_active_run(None)
        from omegaconf import OmegaConf

        # mlflow.yml's experiment name reads the run's dataset (--params=dataset=... too).
        dataset = str(context.params.get("dataset", ""))
        OmegaConf.register_new_resolver(DATASET_RESOLVER, lambda: dataset, replace=True)
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
        """Open the MLflow run (kedro-mlflow), named after the command typed, and note it
        for the model runs and the tune callbacks."""
        if self._mlflow_hook is None:
            return
        config = self._mlflow_hook.mlflow_config
        command = typed_command(run_params)
        if config.tracking.run.name is None:  # mlflow.yml may name the runs itself
            config.tracking.run.name = command[:MAX_RUN_NAME]
        self._mlflow_hook.before_pipeline_run(
            run_params=run_params, pipeline=pipeline, catalog=catalog
        )
        if self._mlflow_hook.run_id is None:  # tracking disabled for this pipeline
            return
        import mlflow
        from mlflow.tracking import MlflowClient

        self._catalog = catalog
        run = TrackingRun(
            mlflow.get_tracking_uri(), config.tracking.experiment.name, self._mlflow_hook.run_id
        )
        set_active_run(run)
        dataset = str(catalog.load("params:dataset")) if "params:dataset" in catalog else ""
        client = MlflowClient(run.tracking_uri)
        # kedro-mlflow records a planned run as its node list (1,000+ characters): the
        # command typed instead, and the nodes as a file.
        mlflow.set_tags({"dataset": dataset, "kedro_command": command})
        if run_params.get("node_names"):
            client.delete_tag(run.run_id, "node_names")
            mlflow.log_text("\n".join(run_params["node_names"]), "kedro/node_names.txt")
        self._runs = ModelRuns(client, run, dataset)
        global _open  # noqa: PLW0603
        _open = self._runs
        logger.info("MLflow run %s (%s)", run.run_id, run.tracking_uri)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict, is_async: bool) -> None:
        """Log the node's parameters: a model's own (``params:<model>.model``) to its run
        (kind and every option in force), the others to the ``kedro run``'s; start the
        clock of a model's fit or evaluation."""
        if self._mlflow_hook is None:
            return
        shared = {}
        for name, value in inputs.items():
            model = _model_params_of(name) or _chosen_by_search(node, name, value)
            if model is not None and self._runs is not None:
                spec = value["model"] if _chosen_by_search(node, name, value) else value
                self._runs.log_params(model, spec_params(spec))
            elif name.startswith("params:"):
                shared[name] = value.model_dump() if isinstance(value, Settings) else value
        if _timed(node) is not None:
            self._started[node.name] = time.perf_counter()
        self._mlflow_hook.before_node_run(
            node=node, catalog=catalog, inputs=shared, is_async=is_async
        )

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        """A model's ``fit_seconds`` or ``evaluate_seconds``; after its evaluation, its run
        ends."""
        started = self._started.pop(node.name, None)
        timed, runs = _timed(node), self._runs
        if started is None or timed is None or runs is None:
            return
        model, metric = timed
        runs.log_metrics(runs.model(model), {metric: time.perf_counter() - started})
        if metric == "evaluate_seconds":
            runs.finish(model)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        """Log what a model's datasets hold to its run (metrics, curves, the fitted model
        and its options, its learning curve), and other reporting-layer files to the
        ``kedro run``'s."""
        run, runs = active_run(), self._runs
        if run is None or runs is None:
            return
        model = model_of(dataset_name)
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        if model is not None and _is_metrics(dataset_name):
            if isinstance(data, pd.DataFrame):
                runs.log_metrics(runs.model(model), evaluation_metrics(data))
        elif model is not None and dataset_name.endswith(HISTORY):
            if isinstance(data, pd.DataFrame):
                for name, steps in epoch_metrics(data).items():
                    for epoch, value in steps:
                        runs.client.log_metric(runs.model(model), name, value, step=epoch)
        elif model is not None and dataset_name.endswith(RECOMMENDER):
            if hasattr(data, "options"):  # what it was fitted with (a search's choice too)
                runs.log_params(model, option_params(*describe_model(data)))
            self._log_model(runs, model, dataset)
        if dataset is not None and _layer(dataset) == ARTIFACT_LAYER:
            path = _saved_path(dataset)
            if path is not None and path.is_file():
                owner = runs.model(model) if model is not None else run.run_id
                runs.client.log_artifact(owner, str(path), ARTIFACT_LAYER)

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
        runs.client.update_run(run_id, status="RUNNING")  # open until it is evaluated

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


def _timed(node: Any) -> tuple[str, str] | None:
    """(model, ``fit_seconds`` or ``evaluate_seconds``) for a model's fit or evaluation
    node (``<model>.fit_recommender``), else None."""
    namespace, _, name = str(node.name).rpartition(".")
    metric = TIMED_NODES.get(name)
    return (namespace, metric) if namespace and "." not in namespace and metric else None


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
