"""The Ray Tune trainable: one model fit per trial, reporting validation metrics.

- Models with a training resource (``epochs``) train once and report each epoch's
  validation record to Tune, so ASHA can stop the trial between epochs: Word2Vec through
  :class:`TuneEpochReport`, its :class:`~session_recs.models.epoch_metrics.EpochMetrics`
  gensim callback; the neural models through :class:`RecordReport`, called with the
  record they make after every epoch.
- Every other model is fitted once and scored once on the validation pairs (a one-shot
  trial: one report, ``epoch`` 1).

Each report carries where and how long the trial trained (wall and process CPU seconds
of fitting, evaluation seconds), which the results tables and the benchmarks read.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from session_recs.evaluation.next_event import hit_metrics, validation_set
from session_recs.models import build_model
from session_recs.models.epoch_metrics import EpochMetrics
from session_recs.tuning.search_settings import metric_key


def _node() -> dict[str, str]:
    import ray

    context = ray.get_runtime_context()
    return {"node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address()}


class TuneEpochReport(EpochMetrics):
    """:class:`EpochMetrics` that also sends every epoch's record to ``ray.tune.report``.

    Besides the validation metrics it reports the epoch's training time in seconds and in
    process CPU seconds (all gensim threads, evaluation excluded), the time from the
    trial's start to the first epoch (data preparation and vocabulary), and the Ray node
    it ran on.
    """

    def __init__(self, *args: Any, started: float, **kwargs: Any) -> None:
        super().__init__(*args, progress=False, **kwargs)
        self.started = started

    def on_train_begin(self, model: Any) -> None:
        super().on_train_begin(model)
        self.setup_seconds = time.perf_counter() - self.started
        self.node = _node()

    def on_epoch_begin(self, model: Any) -> None:
        super().on_epoch_begin(model)
        self._cpu_started = time.process_time()

    def on_epoch_end(self, model: Any) -> None:
        train_cpu = time.process_time() - self._cpu_started
        super().on_epoch_end(model)
        from ray import tune

        record = self.records[-1]
        report = {
            "epoch": record["epoch"],
            **{
                metric_key(metric, k): record[f"{metric}@{k}"]
                for k in self.ks
                for metric in ("recall", "mrr")
            },
            "loss": record["loss"],
            "train_s": record["seconds"],
            "train_cpu_s": train_cpu,
            "eval_s": record["eval_seconds"],
            "setup_s": self.setup_seconds if record["epoch"] == 1 else 0.0,
            **self.node,
        }
        tune.report(report)


class RecordReport:
    """Sends a neural model's per-epoch record (its own validation on the search's ``k``
    and context) to ``ray.tune.report``, with the same keys as :class:`TuneEpochReport`."""

    def __init__(self, k: int, started: float) -> None:
        self.k = k
        self.started = started
        self.node = _node()

    def __call__(self, record: Mapping[str, float]) -> None:
        from ray import tune

        epoch_s = record["seconds"] + record["eval_seconds"]
        # Before the first epoch: the trial's start to the network's first step.
        setup_s = time.perf_counter() - self.started - epoch_s if record["epoch"] == 1 else 0.0
        tune.report(
            {
                "epoch": record["epoch"],
                **{
                    metric_key(metric, self.k): record[f"{metric}@{self.k}"]
                    for metric in ("recall", "mrr")
                },
                "loss": record["loss"],
                "train_s": record["seconds"],
                "train_cpu_s": record["cpu_seconds"],  # training only, all threads
                "eval_s": record["eval_seconds"],
                "setup_s": setup_s,
                **self.node,
            }
        )


def train_trial(
    config: Mapping[str, Any],
    *,
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    setup: Mapping[str, Any],
) -> None:
    """Fit the search's model with the trial's ``config`` over its fixed ``setup``.

    ``setup`` holds ``kind``, ``options`` (the options every trial shares), ``resource``
    (``epochs`` or None), ``max_epochs`` (used when the resource is not searched), ``k``,
    ``context``, ``exclude_query``, ``workers`` and ``seed``. The data arrives once per
    node through the object store (``tune.with_parameters``).
    """
    started = time.perf_counter()
    # gensim logs every epoch at INFO; trials keep their own logs quiet.
    logging.getLogger("gensim").setLevel(logging.WARNING)
    options = {**setup["options"], **_plain(config)}
    if setup["resource"]:
        _train_with_epochs(options, train_sessions, validation_pairs, setup, started)
    else:
        _train_once(options, train_sessions, validation_pairs, setup, started)


def _train_with_epochs(options, train_sessions, validation_pairs, setup, started) -> None:
    if setup["kind"] != "word2vec":
        _train_neural(options, train_sessions, validation_pairs, setup, started)
        return
    reporter = TuneEpochReport(
        validation_pairs["query_item"].astype(str),
        validation_pairs["target_item"].astype(str),
        ks=(setup["k"],),
        started=started,
    )
    resource = setup["resource"]
    options = {
        resource: setup["max_epochs"],
        **options,
        "workers": setup["workers"],
        "seed": setup["seed"],
        "callbacks": [reporter],
        "progress": False,
    }
    build_model(setup["kind"], options).fit(train_sessions)


def _train_neural(options, train_sessions, validation_pairs, setup, started) -> None:
    """A model that calls its callbacks with each epoch's record (the neural models),
    validated on the search's ``k`` and ``context``."""
    resource = setup["resource"]
    options = {
        resource: setup["max_epochs"],
        **options,
        "workers": setup["workers"],
        "seed": setup["seed"],
        "validation_k": setup["k"],
        "validation_context": setup["context"],
        "validation_exclude_query": setup["exclude_query"],
        "callbacks": [RecordReport(setup["k"], started)],
        "progress": False,
    }
    build_model(setup["kind"], options).fit(train_sessions, validation_pairs)


def _train_once(options, train_sessions, validation_pairs, setup, started) -> None:
    from ray import tune

    model = build_model(setup["kind"], options)
    setup_s = time.perf_counter() - started
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train_sessions)
    train_s, train_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    evaluation = validation_set(
        model.fitted_index(), validation_pairs, train_sessions, setup["context"]
    )
    metrics = hit_metrics(model, evaluation, setup["k"], exclude_query=setup["exclude_query"])
    tune.report(
        {
            "epoch": 1,
            **{metric_key(name, setup["k"]): value for name, value in metrics.items()},
            "loss": math.nan,
            "train_s": train_s,
            "train_cpu_s": train_cpu_s,
            "eval_s": time.perf_counter() - wall,
            "setup_s": setup_s,
            **_node(),
        }
    )


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """Config values as Python numbers (samplers may hand out numpy scalars)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}
