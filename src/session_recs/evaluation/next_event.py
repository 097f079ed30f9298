"""Next-event evaluation on whole arrays: queries, ranks, metrics and bootstrap intervals.

Protocols:

- ``last_pair`` (FF19): each (query_item, target_item) pair is one prediction.
- ``iterative_revealing`` (session-rec): every test session predicts each next item from
  the items before it.

Models rank their own candidates (sparse models) or memory-bounded blocks of scores
(dense ones); everything here works on the top-K lists, never on (queries x items).

Metrics at each K: ``recall``, ``mrr``, ``ndcg``, ``coverage`` and ``popularity``, as
:data:`session_recs.evaluation.glossary.GLOSSARY` defines them (the report's glossary and
docs/metrics.md). Per-query metrics get 95% bootstrap confidence intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.core.metrics import bootstrap_intervals, per_query_metrics, target_ranks
from session_recs.core.tables import is_table, to_frame
from session_recs.evaluation.provenance import (
    decide_exclude_query,
    json_options,
    split_fingerprints,
)
from session_recs.models import describe_model
from session_recs.models.base import (
    DENSE_MEMORY_MB,
    UNKNOWN,
    ItemIndex,
    QueryBatch,
    Recommender,
    SessionData,
)
from session_recs.models.queries import (
    EvaluationSet,
    hit_metrics,
    only_last_item,
    pair_set,
    validation_set,
)
from session_recs.models.sparse import ranges

__all__ = [
    "EvaluationConfig",
    "EvaluationSet",
    "evaluate_model",
    "evaluate_with_ranks",
    "evaluation_sets",
    "hit_metrics",
    "only_last_item",
    "pair_set",
    "revealing_set",
    "summarize",
    "validation_set",
    "without_last_item",
]


def without_last_item(sessions: pd.DataFrame) -> pd.DataFrame:
    """Each session minus its final event."""
    ids = sessions["session_id"].to_numpy()
    is_last = np.r_[ids[1:] != ids[:-1], True] if len(ids) else np.zeros(0, bool)
    return sessions[~is_last]


def revealing_set(sessions: pd.DataFrame, index: ItemIndex) -> EvaluationSet:
    """``iterative_revealing`` queries: every prefix of every session predicts its next item."""
    if sessions.empty:
        raise DataValidationError("There are no test sessions to reveal (the table is empty).")
    data = SessionData.from_long(sessions, index)
    n_queries = np.maximum(data.lengths - 1, 0)
    q_starts = np.repeat(data.starts, n_queries)
    q_stops = q_starts + ranges(n_queries) + 1
    context = SessionData(data.items, q_starts, q_stops)
    return EvaluationSet(QueryBatch(data.items[q_stops - 1], context), data.items[q_stops])


def summarize(
    recommended: np.ndarray,
    targets: np.ndarray,
    ks: Sequence[int],
    popularity: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (metric, k): value and 95% CI; coverage and popularity have no CI."""
    ks = sorted(set(int(k) for k in ks))
    if recommended.shape[1] < ks[-1]:
        raise ConfigError(
            f"Asked for metrics at K={ks[-1]} but only {recommended.shape[1]} were recommended."
        )
    ranks = target_ranks(recommended, targets)
    per_query = per_query_metrics(ranks, ks)
    names = list(per_query)
    matrix = np.vstack([per_query[name] for name in names])
    low, high = bootstrap_intervals(matrix, n_boot=n_boot, seed=seed)
    rows = [
        {
            "metric": metric,
            "k": k,
            "value": float(matrix[i].mean()),
            "ci_low": float(low[i]),
            "ci_high": float(high[i]),
        }
        for i, (metric, k) in enumerate(names)
    ]
    share = popularity / popularity.max()
    for k in ks:
        top = recommended[:, :k]
        rows.append({"metric": "coverage", "k": k, "value": len(np.unique(top)) / len(popularity)})
        rows.append({"metric": "popularity", "k": k, "value": float(share[top].mean())})
    out = pd.DataFrame(rows, columns=["metric", "k", "value", "ci_low", "ci_high"])
    out.attrs["n_queries"] = len(targets)
    return out


class EvaluationConfig(Settings):
    """How models are evaluated; see ``evaluation`` in conf/base/parameters.yml.

    ``exclude_query``: never recommend the query item back; ``auto`` decides from the
    training sessions
    (:func:`session_recs.evaluation.provenance.decide_exclude_query`: excluded when under
    1% of training transitions repeat the previous item).
    ``unknown_targets``: ``keep`` counts a target never seen in training as a miss (no
    model can rank it); ``drop`` does what session-rec's loader does: the test events of
    items never seen in training are removed before the sessions are revealed (a session
    left with one event asks nothing), and a last pair whose target is unknown is left out.
    ``memory_mb``: how much memory a block of a dense model's scores may take (sparse
    models rank only their candidates, whatever the catalogue).
    """

    section: ClassVar[str] = "evaluation"

    ks: tuple[Annotated[int, Field(ge=1)], ...] = Field((5, 10, 20), min_length=1)
    exclude_query: bool | Literal["auto"] = True
    contexts: tuple[Literal["last_item", "session"], ...] = Field(
        ("last_item", "session"), min_length=1
    )
    protocols: tuple[Literal["last_pair", "iterative_revealing"], ...] = Field(
        ("last_pair",), min_length=1
    )
    unknown_targets: Literal["keep", "drop"] = "keep"
    n_boot: int = Field(1000, ge=1, le=100_000)
    seed: int = Field(0, ge=0)
    memory_mb: float = Field(DENSE_MEMORY_MB, gt=0, allow_inf_nan=False)

    @field_validator("exclude_query", mode="before")
    @classmethod
    def _bool_or_auto(cls, value: Any) -> bool | str:
        words: dict[str, bool | str] = {"true": True, "false": False, "auto": "auto"}
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in words:
            return words[value.lower()]
        raise ValueError("expected true, false or auto")


def known_targets_only(evaluation: EvaluationSet) -> EvaluationSet:
    """The queries whose target the model saw in training (``unknown_targets: drop``)."""
    keep = evaluation.targets != UNKNOWN
    return EvaluationSet(evaluation.queries.take(keep), evaluation.targets[keep])


def known_items_only(sessions: pd.DataFrame, index: ItemIndex) -> pd.DataFrame:
    """``sessions`` without the events of items the model never saw (session-rec's test
    filter): the remaining events of a session close up, in order."""
    return sessions[index.encode(sessions["item_id"].to_numpy()) != UNKNOWN]


def protocol_sets(
    index: ItemIndex,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    config: EvaluationConfig,
) -> dict[str, EvaluationSet]:
    """Every protocol's queries with their ``session`` context (the session so far)."""
    sets: dict[str, EvaluationSet] = {}
    for protocol in config.protocols:
        if protocol == "last_pair":
            with_session = pair_set(
                test_pairs, index, without_last_item(test_sessions), train_sessions
            )
        elif config.unknown_targets == "drop":
            known = known_items_only(test_sessions, index)
            with_session = revealing_set(known if len(known) else test_sessions, index)
        else:
            with_session = revealing_set(test_sessions, index)
        if config.unknown_targets == "drop":
            with_session = known_targets_only(with_session)
            if not len(with_session.targets):
                raise DataValidationError(
                    f"evaluation.unknown_targets=drop left no {protocol} query: no test target "
                    "was seen in training. Use unknown_targets: keep, or check the split."
                )
        sets[protocol] = with_session
    return sets


def in_context(with_session: EvaluationSet, context: str) -> EvaluationSet:
    """The same queries (in the same order) with ``context``'s view of the session."""
    return with_session if context == "session" else only_last_item(with_session)


def evaluation_sets(
    index: ItemIndex,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    config: EvaluationConfig,
) -> dict[tuple[str, str], EvaluationSet]:
    """Every (protocol, context) evaluation set the configuration asks for."""
    return {
        (protocol, context): in_context(with_session, context)
        for protocol, with_session in protocol_sets(
            index, train_sessions, test_pairs, test_sessions, config
        ).items()
        for context in config.contexts
    }


def evaluate_model(
    model: Recommender,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    config: EvaluationConfig,
) -> pd.DataFrame:
    """Metrics of ``model`` under every protocol and context of ``config``, in one long table."""
    return evaluate_with_ranks(model, train_sessions, test_pairs, test_sessions, config)[0]


def resolved(config: EvaluationConfig, train_sessions: pd.DataFrame) -> EvaluationConfig:
    """``config`` with ``exclude_query: auto`` decided from ``train_sessions``."""
    exclude, _ = decide_exclude_query(config.exclude_query, train_sessions)
    return config.model_copy(update={"exclude_query": exclude})


def evaluate_with_ranks(
    model: Recommender,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    config: EvaluationConfig,
    *,
    dataset: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`evaluate_model`'s table, and every query's target rank (``protocol``,
    ``context``, ``query``: its position in the evaluation set, ``rank``: 1-based within
    the top max(ks), 0 when absent, ``seen``: how many items of its session had been seen,
    the query item's position), for paired tests between models on the same queries and
    the accuracy by session length.

    Both tables carry what they were measured on (:data:`~session_recs.evaluation.provenance.
    PROVENANCE_COLUMNS`): ``dataset``, the fingerprints of the training sessions and of the
    test data, the K list, the effective ``exclude_query`` and ``unknown_targets``, and the
    model's kind and full options."""
    import time

    config = resolved(config, train_sessions)
    tables, ranks = [], []
    context = _pairs_training_rows(train_sessions, test_pairs)
    sets = protocol_sets(model.fitted_index(), context, test_pairs, test_sessions, config)
    for (protocol, context), evaluation, seen in (
        ((protocol, context), in_context(with_session, context), with_session.queries.context)
        for protocol, with_session in sets.items()
        for context in config.contexts
    ):
        start = time.perf_counter()
        recs = model.recommend(
            evaluation.queries,
            max(config.ks),
            exclude_query=bool(config.exclude_query),
            memory_mb=config.memory_mb,
        )
        seconds = time.perf_counter() - start
        table = summarize(
            recs.items,
            evaluation.targets,
            config.ks,
            model.fitted_popularity(),
            n_boot=config.n_boot,
            seed=config.seed,
        )
        table.insert(0, "context", context)
        table.insert(0, "protocol", protocol)
        table["n_queries"] = len(evaluation.targets)
        table["predictions_per_s"] = len(evaluation.targets) / max(seconds, 1e-9)
        tables.append(table)
        ranks.append(
            pd.DataFrame(
                {
                    "protocol": protocol,
                    "context": context,
                    "query": np.arange(len(evaluation.targets), dtype=np.int64),
                    "rank": target_ranks(recs.items, evaluation.targets).astype(np.int32),
                    "seen": (seen.stops - seen.starts).astype(np.int32),
                }
            )
        )
    provenance = measured_on(
        model, train_sessions, test_pairs, test_sessions, config, dataset=dataset
    )
    return (
        pd.concat(tables, ignore_index=True).assign(**provenance),
        pd.concat(ranks, ignore_index=True).assign(**provenance),
    )


def _pairs_training_rows(train_sessions: Any, test_pairs: pd.DataFrame) -> pd.DataFrame:
    """What the pairs' contexts read of the training sessions: all of a DataFrame; of a
    columnar engine's table, only the rows of the pairs' sessions (its fingerprint and
    repeats are read a batch at a time: :mod:`~session_recs.evaluation.provenance`)."""
    if not is_table(train_sessions):
        return train_sessions
    import ibis

    ids = pd.DataFrame({"session_id": test_pairs["session_id"].unique()})
    ids["session_id"] = ids["session_id"].astype(train_sessions.schema()["session_id"].to_pandas())
    return to_frame(train_sessions.semi_join(ibis.memtable(ids), "session_id"))


def measured_on(
    model: Recommender,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    config: EvaluationConfig,
    *,
    dataset: str,
) -> dict[str, object]:
    """The provenance columns of a model's evaluation under (resolved) ``config``."""
    fingerprints = split_fingerprints(train_sessions, test_pairs, test_sessions)
    kind, options = describe_model(model)
    return {
        "dataset": dataset,
        "train_fingerprint": fingerprints["train"],
        "test_fingerprint": fingerprints["test"],
        "ks": ",".join(str(k) for k in sorted(set(config.ks))),
        "exclude_query": bool(config.exclude_query),
        "unknown_targets": config.unknown_targets,
        "model_kind": kind,
        "model_options": json_options(options),
    }
