"""Word2Vec's training monitor: loss, time and validation Recall/MRR@K after every epoch.

:class:`EpochMetrics` is a gensim callback that scores the validation pairs on the live
vectors (no model copy) with the evaluator's own metric functions
(:mod:`session_recs.core.metrics`); the tune pipeline's trials report the same records to Ray.
:func:`learning_curve_figure` plots its history.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from session_recs.core.errors import ConfigError
from session_recs.core.metrics import per_query_metrics, target_ranks
from session_recs.core.progress import bar_label, progress_bar
from session_recs.models.base import DENSE_MEMORY_MB
from session_recs.models.ranking import block_rows, top_k

if TYPE_CHECKING:  # gensim is imported by what trains (models/word2vec.py, at fit)
    from gensim.models import Word2Vec


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` scaled to unit length per row (all-zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def cosine_block(queries: np.ndarray, unit_items: np.ndarray) -> np.ndarray:
    """Cosine similarity (float32, as gensim) of each query vector to every unit item vector."""
    return unit_rows(queries).astype(np.float32) @ unit_items.T.astype(np.float32)


class EpochMetrics:
    """Per-epoch loss, time and validation Recall@K / MRR@K of a gensim Word2Vec model.

    A gensim callback by its methods (gensim 4 calls ``on_train_begin``,
    ``on_epoch_begin``, ``on_epoch_end`` and ``on_train_end``, as on its
    ``CallbackAny2Vec``), so that building a model, which every run does to check its
    options, does not import gensim.

    ``queries`` and ``targets`` are the validation pairs as vocabulary keys (tokens); a
    key missing from the vocabulary is never recommended (targets) or gets the most
    frequent items (queries). Scoring works on ``model.wv.vectors`` in place: one matrix
    product and one top-K over all pairs per epoch. Loss needs ``train(compute_loss=True)``;
    it is gensim's own sum, which this callback restarts every epoch (so later callbacks'
    ``get_latest_training_loss()`` is per epoch too); gensim adds it up in float32 and
    unlocked between workers, so it is approximate.
    Equal scores are ordered by ``tie_order`` (keys, preferred first; default: the
    vocabulary's own order, most frequent first). ``progress`` shows a bar over epochs
    named after the running model namespace (else ``name``).
    """

    def __init__(
        self,
        queries: Sequence[str] | np.ndarray = (),
        targets: Sequence[str] | np.ndarray = (),
        *,
        ks: Sequence[int] = (10,),
        exclude_query: bool = True,
        progress: bool = True,
        tie_order: Sequence[str] | np.ndarray | None = None,
        name: str = "word2vec",
    ) -> None:
        if len(queries) != len(targets):
            raise ConfigError(
                f"EpochMetrics needs as many validation targets as queries, got "
                f"{len(queries)} queries and {len(targets)} targets."
            )
        self.queries = np.asarray(queries, dtype=object)
        self.targets = np.asarray(targets, dtype=object)
        self.ks = _checked_ks(ks)
        self.exclude_query = exclude_query
        self.progress = progress
        self.name = name
        self.tie_order = None if tie_order is None else pd.Index(np.asarray(tie_order, object))
        self.records: list[dict[str, float]] = []
        self._bar: Any = None

    @property
    def history(self) -> pd.DataFrame:
        """One row per finished epoch: epoch, loss, seconds, recall@K, mrr@K, eval_seconds."""
        columns = ["epoch", "loss", "seconds", *_metric_columns(self.ks), "eval_seconds"]
        return pd.DataFrame(self.records, columns=columns)

    def on_train_begin(self, model: Word2Vec) -> None:
        self.records = []
        keys = pd.Index(model.wv.index_to_key)
        self._query_rows = keys.get_indexer(pd.Index(self.queries))
        self._target_rows = keys.get_indexer(pd.Index(self.targets))
        # Ties (and queries without a vector) fall back to the preferred (frequent) items.
        self._tie_rank = (
            np.arange(len(keys))
            if self.tie_order is None
            else self.tie_order.get_indexer(keys).astype(np.float64)
        )
        if self.tie_order is not None:
            self._tie_rank[self._tie_rank < 0] = np.inf
        self._bar = progress_bar(model.epochs, bar_label(self.name), disable=not self.progress)

    def on_epoch_begin(self, model: Word2Vec) -> None:
        # gensim sums the loss over a whole train() call in float32, which saturates after
        # some tens of millions (later epochs then add 0); restart the sum every epoch.
        model.running_training_loss = 0.0
        self._started = time.perf_counter()

    def on_epoch_end(self, model: Word2Vec) -> None:
        seconds = time.perf_counter() - self._started
        record = {
            "epoch": len(self.records) + 1,
            "loss": float(model.get_latest_training_loss()),
            "seconds": seconds,
        }
        started = time.perf_counter()
        record.update(self.validation_metrics(model.wv.vectors))
        record["eval_seconds"] = time.perf_counter() - started
        self.records.append(record)
        if self._bar is not None:
            first = f"recall@{self.ks[0]}"
            if not np.isnan(record[first]):
                self._bar.set_postfix({first: f"{record[first]:.4f}"}, refresh=False)
            self._bar.update(1)

    def on_train_end(self, model: Word2Vec) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def validation_metrics(self, vectors: np.ndarray) -> dict[str, float]:
        """Recall@K and MRR@K of the validation pairs under the vocabulary's ``vectors``."""
        if not len(self.queries) or not len(vectors):
            return dict.fromkeys(_metric_columns(self.ks), float("nan"))
        unit = unit_rows(vectors)
        k = max(self.ks)
        recommended = np.empty((len(self.queries), min(k, len(unit))), dtype=np.int64)
        # Blocks of validation queries sized to the memory budget, whatever the vocabulary.
        step = block_rows(len(unit), DENSE_MEMORY_MB)
        for start in range(0, len(self.queries), step):
            rows = self._query_rows[start : start + step]
            known = rows >= 0
            scores = np.zeros((len(rows), len(unit)), dtype=np.float32)
            scores[known] = cosine_block(unit[rows[known]], unit)
            if self.exclude_query:
                scores[np.flatnonzero(known), rows[known]] = -np.inf
            recommended[start : start + step] = top_k(scores, k, self._tie_rank)
        # A target outside the vocabulary (-1) can never match a recommended row.
        per_query = per_query_metrics(target_ranks(recommended, self._target_rows), self.ks)
        return {
            f"{metric}@{k}": float(per_query[metric, k].mean()) for metric, k in _monitored(self.ks)
        }


def _monitored(ks: Sequence[int]) -> list[tuple[str, int]]:
    """The (metric, k) pairs recorded per epoch, in history column order."""
    return [(metric, k) for k in ks for metric in ("recall", "mrr")]


def _metric_columns(ks: Sequence[int]) -> list[str]:
    return [f"{metric}@{k}" for metric, k in _monitored(ks)]


def _checked_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks or any(not isinstance(k, int | np.integer) or k < 1 for k in ks):
        raise ConfigError(f"word2vec validation ks must be positive integers, got {list(ks)}.")
    return tuple(int(k) for k in ks)


def learning_curve_figure(history: pd.DataFrame, title: str = "learning curve") -> Figure:
    """Validation Recall@K and MRR@K per epoch, with the training loss on a second axis."""
    figure = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_xlabel("epoch")
    if history is None or history.empty:
        axes.text(0.5, 0.5, "no training history", ha="center", va="center")
        return figure
    metrics = [c for c in history.columns if c.startswith(("recall@", "mrr@"))]
    metrics = [c for c in metrics if history[c].notna().any()]
    for column in metrics:
        axes.plot(history["epoch"], history[column], marker="o", markersize=3, label=column)
    axes.set_ylabel("validation metric")
    loss_axes = axes.twinx()
    loss_axes.plot(history["epoch"], history["loss"], color="grey", linestyle="--", label="loss")
    loss_axes.set_ylabel("training loss (per epoch)")
    handles = axes.get_legend_handles_labels()[0] + loss_axes.get_legend_handles_labels()[0]
    axes.legend(handles=handles, loc="center right")
    axes.set_title(title)
    figure.tight_layout()
    return figure
