"""Word2Vec item embeddings (gensim) as a next-item recommender, with per-epoch monitoring.

Training sessions are the "sentences" and item ids the "words" (FF19's recipe); a query
is answered by the cosine similarity of its vector to every item vector:

- ``context='last_item'`` (FF19): the query vector is the last item's vector, as
  gensim's ``most_similar(item)`` did; the query item itself is excluded by
  :meth:`Recommender.recommend`.
- ``context='session'``: the query vector is a recency-weighted sum of the unit vectors
  of the session's last ``context_window`` items (weight ``decay ** steps_back``). On
  Online Retail it does not beat ``last_item`` (benchmarks/bench_word2vec.py); the
  defaults (3 items, decay 0.25) are the best of the settings tried there.

Scores are ``1 + cosine`` for items with a vector (so they stay positive, which the shared
``recommend`` reads as evidence) and 0 for items without one, which are then ranked by
popularity, as are all items for a query without a vector.

:class:`EpochMetrics` is a gensim callback that records loss, time and validation
Recall@K / MRR@K after every epoch, on the live vectors (no model copy);
:func:`learning_curve_figure` plots its history.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, create_model

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.models.base import (
    NOT_GIVEN,
    QueryBatch,
    Recommender,
    SessionData,
    context_weights,
    preset_or_options,
)
from session_recs.models.epoch_metrics import EpochMetrics, cosine_block, unit_rows

if typing.TYPE_CHECKING:  # gensim is imported where a model trains or loads (see below)
    from gensim.models import KeyedVectors
    from gensim.models.callbacks import CallbackAny2Vec

_FF19_DEFAULT = {
    "sg": 1,
    "min_count": 1,
    "vector_size": 100,
    "window": 5,
    "negative": 5,
    "ns_exponent": 0.75,
    "alpha": 0.025,
    "min_alpha": 0.0001,
    "sample": 0.001,
    "epochs": 5,
}

#: FF19's settings: gensim's defaults with skip-gram and every item kept ("ff19_default"),
#: and the best configuration of its Ray Tune search ("ff19_tuned").
PRESETS: dict[str, dict[str, Any]] = {
    "ff19_default": dict(_FF19_DEFAULT),
    "ff19_tuned": {
        **_FF19_DEFAULT,
        "window": 13,
        "negative": 16,
        "ns_exponent": 0.6,
        "epochs": 100,
    },
}

CONTEXTS = ("last_item", "session")
#: The K of the validation Recall/MRR that training records every epoch.
MONITOR_KS = (10,)


class _Preset(Settings):
    preset: str | None = "ff19_default"


class GensimOverrides(Settings):
    """gensim's parameters, each overriding the preset's (None: the preset's); the ranges
    are gensim's (the tune search's space is checked by them)."""

    vector_size: int | None = Field(None, ge=1)
    window: int | None = Field(None, ge=1)
    negative: int | None = Field(None, ge=0)
    epochs: int | None = Field(None, ge=1)
    min_count: int | None = Field(None, ge=1)
    ns_exponent: float | None = None
    alpha: float | None = Field(None, gt=0)
    min_alpha: float | None = Field(None, ge=0)
    sample: float | None = Field(None, ge=0)
    sg: Literal[0, 1] | None = None
    hs: Literal[0, 1] | None = None
    cbow_mean: Literal[0, 1] | None = None


#: gensim parameters a preset or an override may set.
GENSIM_PARAMS = tuple(GensimOverrides.model_fields)


class _OwnOptions(Settings):
    """How the model trains (``seed``, ``workers``) and answers a query (``context``)."""

    seed: int = 0
    #: gensim's threads: 1 reproduces a seeded fit exactly; more are faster on large data
    #: but not reproducible (docs/reproducibility.md).
    workers: int = Field(1, ge=1)
    context: Literal[CONTEXTS] = "last_item"  # type: ignore[valid-type]  # CONTEXTS, listed once
    context_window: int = Field(3, ge=1)
    decay: float = Field(0.25, gt=0, le=1)


class Word2VecOptions(_OwnOptions, GensimOverrides, _Preset):
    """Every option of :class:`Word2VecRecommender`: ``preset``, gensim's parameters that
    override it, and its own."""


def _required(field: Any) -> Any:
    """An override's type without its None, with its range: a resolved parameter's."""
    kind = next(t for t in typing.get_args(field.annotation) if t is not type(None))
    return Annotated[(kind, *field.metadata)] if field.metadata else kind


#: gensim's parameters once resolved: all set, each in gensim's range.
_RESOLVED: dict[str, Any] = {
    name: (_required(field), ...) for name, field in GensimOverrides.model_fields.items()
}
GensimParams = create_model("GensimParams", __base__=Settings, **_RESOLVED)


class SessionCorpus:
    """The training sessions as gensim's corpus, streamed: each pass (the vocabulary's,
    then one per epoch) yields one session's tokens at a time from the sessions' arrays,
    so no list of every session's tokens is ever held (at 10^8 events it would take
    gigabytes). gensim reads it in the same order as a list, so a seeded one-worker fit
    is the same."""

    def __init__(self, tokens: np.ndarray, sessions: SessionData) -> None:
        self.tokens = tokens
        self.sessions = sessions

    def __len__(self) -> int:
        return len(self.sessions.starts)

    def __iter__(self) -> typing.Iterator[list[str]]:
        items, tokens = self.sessions.items, self.tokens
        for start, stop in zip(self.sessions.starts, self.sessions.stops, strict=True):
            session = items[start:stop]
            yield tokens[session[session >= 0]].tolist()


class Word2VecRecommender(Recommender):
    """Items ranked by cosine similarity of gensim Word2Vec embeddings to the query.

    ``preset`` picks a base configuration from :data:`PRESETS` (``None``: gensim's own
    defaults); any of :data:`GENSIM_PARAMS` given here overrides it. ``workers=1`` (the
    default) with a fixed ``seed`` gives identical vectors on every fit; more workers are
    faster on large data but not reproducible (gensim's threads update shared vectors in
    whatever order they run). ``callbacks`` are extra gensim callbacks run during training.
    ``progress`` shows a progress bar over epochs with the validation Recall@10.
    After :meth:`fit`, ``history`` holds :class:`EpochMetrics`'s table and ``wv``
    the gensim ``KeyedVectors`` (keys: the item ids as strings).
    """

    #: Every item with a vector gets a cosine score: ranked in memory-bounded dense blocks.
    dense_scores: ClassVar[bool] = True
    name: ClassVar[str] = "word2vec"
    uses_context: ClassVar[bool] = True
    Options: ClassVar[type[Settings]] = Word2VecOptions
    search_settings: ClassVar[tuple[type, ...]] = (GensimParams, _OwnOptions)
    run_arguments: ClassVar[tuple[str, ...]] = ("callbacks", "progress")
    options: Word2VecOptions
    training_resource: ClassVar[str | None] = "epochs"
    monitors_validation: ClassVar[bool] = True
    #: Callbacks belong to the fit (a Ray reporter), not to the model.
    transient: ClassVar[Mapping[str, Any]] = {**Recommender.transient, "callbacks": ()}

    def __init__(
        self,
        options: Any = NOT_GIVEN,
        /,
        *,
        callbacks: Sequence[CallbackAny2Vec] = (),
        progress: bool = True,
        **values: Any,
    ) -> None:
        first, values = preset_or_options(options, values)
        super().__init__(first, **values)
        options = self.options
        if options.preset is not None and options.preset not in PRESETS:
            raise ConfigError(
                f"word2vec: unknown preset {options.preset!r}; valid presets: {sorted(PRESETS)} "
                "(or None for gensim's own defaults)."
            )
        overrides = {name: getattr(options, name) for name in GENSIM_PARAMS}
        self.gensim_params = _checked_gensim_params(
            {
                **GENSIM_DEFAULTS,
                **PRESETS.get(options.preset or "", {}),
                **{k: v for k, v in overrides.items() if v is not None},
            }
        )
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.history = EpochMetrics(ks=MONITOR_KS).history
        self.wv: KeyedVectors | None = None
        self.train_seconds = 0.0
        self.raw_word_count = 0

    def _fit(self, sessions: SessionData) -> None:
        tokens = np.array([str(item) for item in self.fitted_index().ids], dtype=object)
        if len(set(tokens)) < len(tokens):
            raise DataValidationError(
                "word2vec: two different item ids have the same text form, so gensim "
                "cannot tell them apart; make column 'item_id' strings."
            )
        corpus = SessionCorpus(tokens, sessions)
        params = self.gensim_params
        counts = self.fitted_popularity()
        if not (counts >= params["min_count"]).any():
            raise ConfigError(
                f"word2vec.min_count={params['min_count']} leaves no item in the vocabulary "
                f"(the most frequent item occurs {int(counts.max())} times); lower it."
            )
        pairs = self.validation_pairs
        monitor = EpochMetrics(
            *(
                (pairs["query_item"].astype(str), pairs["target_item"].astype(str))
                if pairs is not None and len(pairs)
                else ((), ())
            ),
            ks=MONITOR_KS,
            progress=self.progress,
            name=self.name,
            # The order recommend() breaks ties in: more popular first, then first seen.
            tie_order=tokens[np.lexsort((np.arange(len(tokens)), -counts))],
        )
        from gensim.models import Word2Vec

        model = Word2Vec(**params, seed=self.options.seed, workers=self.options.workers)
        model.build_vocab(corpus)
        started = time.perf_counter()
        # gensim 4 runs callbacks given to train(), not those given to the constructor.
        _, self.raw_word_count = model.train(
            corpus,
            total_examples=model.corpus_count,
            epochs=model.epochs,
            compute_loss=True,
            callbacks=[monitor, *self.callbacks],
        )
        self.train_seconds = time.perf_counter() - started
        self.history = monitor.history
        self.wv = model.wv
        rows = pd.Index(model.wv.index_to_key).get_indexer(pd.Index(tokens))
        self._has_vector = rows >= 0
        self._unit = np.zeros((len(tokens), model.wv.vector_size), dtype=np.float32)
        self._unit[self._has_vector] = unit_rows(model.wv.vectors)[rows[self._has_vector]]

    def _export_state(self) -> dict[str, Any]:
        """gensim's vectors as their keys (the item ids as text) and matrix: gensim's own
        ``save`` pickles."""
        state = super()._export_state()
        if self.wv is not None:
            keys = np.asarray(self.wv.index_to_key, dtype=object)
            state["wv"] = {"keys": keys, "vectors": self.wv.vectors}
        return state

    def _restore_state(self, state: dict[str, Any]) -> None:
        saved = state.pop("wv", None)
        super()._restore_state(state)
        self.wv = None
        if saved is not None:
            vectors = np.asarray(saved["vectors"], dtype=np.float32)
            from gensim.models import KeyedVectors

            self.wv = KeyedVectors(vectors.shape[1])
            self.wv.add_vectors([str(key) for key in saved["keys"]], vectors)

    def query_vectors(self, queries: QueryBatch) -> np.ndarray:
        """Each query's vector (a zero row when none of its items has one)."""
        options = self.options
        if options.context == "last_item":
            known = queries.last_item >= 0
            return np.where(known[:, None], self._unit[np.where(known, queries.last_item, 0)], 0)
        weights = context_weights(queries, len(self._unit), options.context_window, options.decay)
        return np.asarray(weights @ self._unit)

    def score(self, queries: QueryBatch) -> np.ndarray:
        """``1 + cosine`` to every item with a vector; 0 elsewhere and for vectorless queries."""
        self.fitted_index()
        vectors = self.query_vectors(queries)
        has_query = np.abs(vectors).sum(axis=1) > 0
        # float64 holds 1 + any float32 cosine exactly, so the ranking is the cosine's.
        scores = 1.0 + cosine_block(vectors, self._unit).astype(np.float64)
        return np.where(has_query[:, None] & self._has_vector[None, :], scores, 0.0)

    def params(self) -> dict[str, Any]:
        options = self.options
        return {
            "preset": options.preset,
            **self.gensim_params,
            **{name: getattr(options, name) for name in _OwnOptions.model_fields},
        }


#: gensim 4's own Word2Vec defaults for :data:`GENSIM_PARAMS` (the ``preset=None`` base),
#: written out so that building a model (every run does, to check its options) does not
#: import gensim; tests/models/test_word2vec.py holds them equal to gensim's signature.
GENSIM_DEFAULTS: dict[str, Any] = {
    "vector_size": 100, "window": 5, "negative": 5, "epochs": 5, "min_count": 5,
    "ns_exponent": 0.75, "alpha": 0.025, "min_alpha": 0.0001, "sample": 0.001, "sg": 0,
    "hs": 0, "cbow_mean": 1,
}  # fmt: skip


def _checked_gensim_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` if gensim would accept them; else a ConfigError naming the first bad one."""
    params = {**params, **GensimParams.check("word2vec", **params).model_dump()}
    if not params["hs"] and not params["negative"]:
        raise ConfigError("word2vec needs hs=1 or negative > 0; with neither nothing is trained.")
    return params
