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

import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from gensim.models import KeyedVectors, Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from pydantic import Field, create_model

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.models.base import QueryBatch, Recommender, SessionData, context_weights
from session_recs.models.epoch_metrics import EpochMetrics, cosine_block, unit_rows

#: gensim parameters a preset or an override may set.
GENSIM_PARAMS = (
    "vector_size",
    "window",
    "negative",
    "ns_exponent",
    "alpha",
    "min_alpha",
    "sample",
    "epochs",
    "sg",
    "min_count",
    "hs",
    "cbow_mean",
)

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


class Word2VecRecommender(Recommender):
    """Items ranked by cosine similarity of gensim Word2Vec embeddings to the query.

    ``preset`` picks a base configuration from :data:`PRESETS` (``None``: gensim's own
    defaults); any of :data:`GENSIM_PARAMS` given here overrides it. ``workers=1`` with a
    fixed ``seed`` gives identical vectors on every fit; more workers are faster but not
    reproducible. ``callbacks`` are extra gensim callbacks run during training.
    ``progress`` shows a progress bar over epochs with the validation Recall@10.
    After :meth:`fit`, ``history`` holds :class:`EpochMetrics`'s table and ``wv``
    the gensim ``KeyedVectors`` (keys: the item ids as strings).
    """

    #: Every item with a vector gets a cosine score: ranked in memory-bounded dense blocks.
    dense_scores: ClassVar[bool] = True
    name: ClassVar[str] = "word2vec"
    uses_context: ClassVar[bool] = True
    # Defined below the class (they are built from GENSIM_RULES).
    search_settings: ClassVar[tuple[type, ...]] = ()
    training_resource: ClassVar[str | None] = "epochs"
    monitors_validation: ClassVar[bool] = True
    #: Callbacks belong to the fit (a Ray reporter), not to the model.
    transient: ClassVar[Mapping[str, Any]] = {**Recommender.transient, "callbacks": ()}

    def __init__(
        self,
        preset: str | None = "ff19_default",
        *,
        vector_size: int | None = None,
        window: int | None = None,
        negative: int | None = None,
        ns_exponent: float | None = None,
        alpha: float | None = None,
        min_alpha: float | None = None,
        sample: float | None = None,
        epochs: int | None = None,
        sg: int | None = None,
        min_count: int | None = None,
        hs: int | None = None,
        cbow_mean: int | None = None,
        seed: int = 0,
        workers: int = 2,
        context: str = "last_item",
        context_window: int = 3,
        decay: float = 0.25,
        callbacks: Sequence[CallbackAny2Vec] = (),
        progress: bool = True,
        **unknown: Any,
    ) -> None:
        super().__init__()
        if unknown:
            valid = [*GENSIM_PARAMS, *_OWN_OPTIONS]
            raise ConfigError(
                f"word2vec: unknown parameter(s) {sorted(unknown)}; valid parameters: {valid}."
            )
        if preset is not None and preset not in PRESETS:
            raise ConfigError(
                f"word2vec: unknown preset {preset!r}; valid presets: {sorted(PRESETS)} "
                "(or None for gensim's own defaults)."
            )
        overrides = {
            "vector_size": vector_size,
            "window": window,
            "negative": negative,
            "ns_exponent": ns_exponent,
            "alpha": alpha,
            "min_alpha": min_alpha,
            "sample": sample,
            "epochs": epochs,
            "sg": sg,
            "min_count": min_count,
            "hs": hs,
            "cbow_mean": cbow_mean,
        }
        self.preset = preset
        self.gensim_params = _checked_gensim_params(
            {
                **_gensim_defaults(),
                **PRESETS.get(preset or "", {}),
                **{k: v for k, v in overrides.items() if v is not None},
            }
        )
        own = _OwnOptions.check(
            self.name,
            context=context,
            context_window=context_window,
            decay=decay,
            seed=seed,
            workers=workers,
        )
        vars(self).update(own.model_dump())
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.history = EpochMetrics(ks=MONITOR_KS).history
        self.wv: KeyedVectors | None = None
        self.train_seconds = 0.0
        self.raw_word_count = 0

    def _fit(self, sessions: SessionData) -> None:
        tokens = np.asarray([str(item) for item in self.index.ids], dtype=object)
        if len(set(tokens)) < len(tokens):
            raise DataValidationError(
                "word2vec: two different item ids have the same text form, so gensim "
                "cannot tell them apart; make column 'item_id' strings."
            )
        items = sessions.items
        corpus = [
            tokens[items[a:b][items[a:b] >= 0]].tolist()
            for a, b in zip(sessions.starts, sessions.stops, strict=True)
        ]
        params = self.gensim_params
        counts = self.popularity
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
            # The order recommend() breaks ties in: more popular first, then first seen.
            tie_order=tokens[np.lexsort((np.arange(len(tokens)), -self.popularity))],
        )
        model = Word2Vec(**params, seed=self.seed, workers=self.workers)
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
            self.wv = KeyedVectors(vectors.shape[1])
            self.wv.add_vectors([str(key) for key in saved["keys"]], vectors)

    def query_vectors(self, queries: QueryBatch) -> np.ndarray:
        """Each query's vector (a zero row when none of its items has one)."""
        if self.context == "last_item":
            known = queries.last_item >= 0
            return np.where(known[:, None], self._unit[np.where(known, queries.last_item, 0)], 0)
        weights = context_weights(queries, len(self._unit), self.context_window, self.decay)
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
        return {
            "preset": self.preset,
            **self.gensim_params,
            "seed": self.seed,
            "workers": self.workers,
            "context": self.context,
            "context_window": self.context_window,
            "decay": self.decay,
        }


_OWN_OPTIONS = (
    "preset",
    "seed",
    "workers",
    "context",
    "context_window",
    "decay",
    "callbacks",
    "progress",
)


def _gensim_defaults() -> dict[str, Any]:
    """gensim's own Word2Vec defaults for :data:`GENSIM_PARAMS` (the ``preset=None`` base)."""
    parameters = inspect.signature(Word2Vec.__init__).parameters
    return {name: parameters[name].default for name in GENSIM_PARAMS}


@dataclass(frozen=True)
class ParamRule:
    """What gensim accepts for one numeric Word2Vec parameter."""

    type: type
    minimum: float | None = None
    #: True when ``minimum`` itself is not allowed (alpha must be > 0).
    exclusive: bool = False

    def annotation(self) -> Any:
        """The rule as a pydantic field type (how :class:`GensimParams` checks it)."""
        if self.minimum is None:
            return self.type
        bound = {"gt": self.minimum} if self.exclusive else {"ge": self.minimum}
        return Annotated[self.type, Field(**bound)]


#: gensim's rules for the numeric parameters (the tune search's space is checked by them).
GENSIM_RULES: dict[str, ParamRule] = {
    "vector_size": ParamRule(int, 1),
    "window": ParamRule(int, 1),
    "negative": ParamRule(int, 0),
    "epochs": ParamRule(int, 1),
    "min_count": ParamRule(int, 1),
    "ns_exponent": ParamRule(float),
    "alpha": ParamRule(float, 0, exclusive=True),
    "min_alpha": ParamRule(float, 0),
    "sample": ParamRule(float, 0),
}


#: gensim's parameters, checked by the rules above (and the 0/1 switches).
GensimParams = create_model(
    "GensimParams",
    __base__=Settings,
    **{name: (rule.annotation(), ...) for name, rule in GENSIM_RULES.items()},
    **{name: (Literal[0, 1], ...) for name in ("sg", "hs", "cbow_mean")},
)


class _OwnOptions(Settings):
    context: Literal[CONTEXTS] = "last_item"
    context_window: int = Field(3, ge=1)
    decay: float = Field(0.25, gt=0, le=1)
    seed: int = 0
    workers: int = Field(2, ge=1)


def _checked_gensim_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` if gensim would accept them; else a ConfigError naming the first bad one."""
    params = {**params, **GensimParams.check("word2vec", **params).model_dump()}
    if not params["hs"] and not params["negative"]:
        raise ConfigError("word2vec needs hs=1 or negative > 0; with neither nothing is trained.")
    return params


Word2VecRecommender.search_settings = (GensimParams, _OwnOptions)
