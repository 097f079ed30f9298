"""The Ray Tune trainable: one Word2Vec fit per trial, reporting validation metrics per epoch.

Training and validation are :class:`~session_recs.models.word2vec.Word2VecRecommender` and
its :class:`~session_recs.models.word2vec.EpochMetrics` callback, unchanged: the
trial only adds :class:`TuneEpochReport`, which reports each epoch's record to Tune (so
ASHA can stop the trial between epochs) together with where and how long it trained.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from session_recs.models.epoch_metrics import EpochMetrics
from session_recs.models.word2vec import Word2VecRecommender
from session_recs.tuning.settings import metric_key


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
        import ray

        super().on_train_begin(model)
        self.setup_seconds = time.perf_counter() - self.started
        context = ray.get_runtime_context()
        self.node = {"node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address()}

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


def train_word2vec_trial(
    config: Mapping[str, Any],
    *,
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    setup: Mapping[str, Any],
) -> None:
    """Fit Word2Vec with the trial's ``config`` over the search's fixed ``setup``.

    ``setup`` holds ``options`` (the fixed Word2Vec options), ``max_epochs`` (used when
    ``epochs`` is not searched), ``k``, ``workers`` and ``seed``. The data arrives once
    per node through the object store (``tune.with_parameters``).
    """
    started = time.perf_counter()
    # gensim logs every epoch at INFO; trials keep their own logs quiet.
    logging.getLogger("gensim").setLevel(logging.WARNING)
    reporter = TuneEpochReport(
        validation_pairs["query_item"].astype(str),
        validation_pairs["target_item"].astype(str),
        ks=(setup["k"],),
        started=started,
    )
    options = {
        **setup["options"],
        "epochs": setup["max_epochs"],
        **_plain(config),
        "workers": setup["workers"],
        "seed": setup["seed"],
    }
    model = Word2VecRecommender(**options, callbacks=[reporter], progress=False)
    model.fit(train_sessions)


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    """Config values as Python numbers (samplers may hand out numpy scalars)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}
