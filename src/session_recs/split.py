"""Split sessions into training sessions and next-event evaluation pairs.

Strategies (parameter ``strategy``):

- ``ff19``: train = every session without its last item; test and validation are the
  (second-to-last, last) pairs of ``test_size`` sessions each, drawn exactly as FF19 did:
  ``rng = np.random.default_rng(seed); index = rng.choice(range(n), 2 * test_size,
  replace=False)``; test = ``index[:test_size]``, validation = ``index[test_size:]``.
  With ``all_final_pairs``, the final pair of every other session outside validation is
  tested too (after FF19's, in session order): several times the test pairs, so tighter
  confidence intervals.
- ``temporal``: sessions ordered by their last timestamp; the latest ones become test
  (a ``test_fraction`` or everything after a ``cutoff`` date), the ones just before them
  validation; training never sees a test session.
- ``predefined``: the interactions came with a ``split`` column ("train"/"test", e.g. from
  :class:`~session_recs.data.datasets.PredefinedSplitDataset`); test sessions are kept whole
  and validation is carved from the latest training sessions.

Validation sessions give their prefix (all but the last item) to training when
``validation_prefix_in_train`` is true, as FF19 does; their target never leaks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from session_recs.errors import ConfigError, DataValidationError

STRATEGIES = ("ff19", "temporal", "predefined")


@dataclass(frozen=True)
class SplitConfig:
    """Split settings; see the module docstring and parameters_split.yml."""

    strategy: str = "ff19"
    test_size: int = 1000
    seed: int = 123
    test_fraction: float = 0.1
    validation_fraction: float = 0.1
    cutoff: str | None = None
    validation_prefix_in_train: bool = True
    all_final_pairs: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SplitConfig:
        """Build from a ``params:split`` dict, rejecting unknown or invalid values."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"Unknown split parameter(s) {unknown}; known: {sorted(known)}.")
        config = cls(**dict(params))
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ConfigError naming the first parameter out of range."""
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"split.strategy must be one of {STRATEGIES}, got {self.strategy!r}.")
        if not isinstance(self.test_size, int) or self.test_size < 1:
            raise ConfigError(f"split.test_size must be an integer >= 1, got {self.test_size!r}.")
        for name in ("test_fraction", "validation_fraction"):
            value = getattr(self, name)
            if not 0 < value < 0.5:
                raise ConfigError(f"split.{name} must be in (0, 0.5), got {value!r}.")
        if self.cutoff is not None:
            try:
                pd.Timestamp(self.cutoff)
            except ValueError:
                raise ConfigError(
                    f"split.cutoff must be a date such as '2011-11-01', got {self.cutoff!r}."
                ) from None


class Split(NamedTuple):
    """The outputs of a split, as the catalog stores them."""

    train_sessions: pd.DataFrame
    validation_pairs: pd.DataFrame
    test_pairs: pd.DataFrame
    test_sessions: pd.DataFrame


def _bounds(sessions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Start row and length of every session; session ids must be 0..n-1 in row order."""
    ids = sessions["session_id"].to_numpy()
    if len(ids) and (ids[0] != 0 or np.any(np.diff(ids) < 0) or np.any(np.diff(ids) > 1)):
        raise DataValidationError(
            "sessions must be numbered 0..n-1 in row order (as the sessionize pipeline writes "
            "them); found another numbering in column 'session_id'."
        )
    lengths = np.bincount(ids)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    return starts, lengths


def _pairs(sessions: pd.DataFrame, chosen: np.ndarray, starts, lengths) -> pd.DataFrame:
    """(second-to-last, last) item pairs of the chosen sessions, in the given order."""
    items = sessions["item_id"].to_numpy()
    last = starts[chosen] + lengths[chosen] - 1
    return pd.DataFrame(
        {
            "session_id": chosen.astype(np.int64),
            "query_item": items[last - 1],
            "target_item": items[last],
        }
    )


def _columns(sessions: pd.DataFrame) -> list[str]:
    """The columns a split keeps: the long format, plus ``timestamp`` when there is one
    (session_knn ranks neighbour sessions by recency)."""
    return ["session_id", "position", "item_id"] + (
        ["timestamp"] if "timestamp" in sessions.columns else []
    )


def _rows_of(sessions: pd.DataFrame, chosen: np.ndarray) -> pd.DataFrame:
    """The chosen sessions whole, in session order."""
    mask = np.isin(sessions["session_id"].to_numpy(), chosen)
    return sessions.loc[mask, _columns(sessions)].reset_index(drop=True)


def _train_rows(sessions, lengths, train_ids, prefix_ids) -> pd.DataFrame:
    """Whole training sessions plus the prefixes (all but the last item) of ``prefix_ids``."""
    ids = sessions["session_id"].to_numpy()
    position = sessions["position"].to_numpy()
    whole = np.zeros(len(lengths), dtype=bool)
    whole[train_ids] = True
    prefix = np.zeros(len(lengths), dtype=bool)
    prefix[prefix_ids] = True
    keep = whole[ids] | (prefix[ids] & (position < lengths[ids] - 1))
    return sessions.loc[keep, _columns(sessions)].reset_index(drop=True)


def _latest_first(sessions: pd.DataFrame, candidates: np.ndarray, starts, lengths) -> np.ndarray:
    """Candidate session ids ordered by last timestamp, latest last (ties: session order)."""
    if "timestamp" not in sessions.columns:
        return candidates
    last_time = sessions["timestamp"].to_numpy()[starts + lengths - 1]
    return candidates[np.argsort(last_time[candidates], kind="stable")]


def split_sessions(sessions: pd.DataFrame, config: SplitConfig) -> Split:
    """Split a session table (as written by sessionize) according to ``config``."""
    config.validate()
    if sessions.empty:
        raise DataValidationError("There are no sessions to split.")
    starts, lengths = _bounds(sessions)
    n_sessions = len(lengths)
    if lengths.min() < 2:
        raise ConfigError(
            f"{int((lengths < 2).sum()):,} session(s) have a single item, which cannot form a "
            "(query, target) pair; set sessionize.min_session_length to 2 or more."
        )
    all_ids = np.arange(n_sessions)

    if config.strategy == "ff19":
        if 2 * config.test_size > n_sessions:
            raise ConfigError(
                f"split.test_size={config.test_size:,} is too large: test and validation take "
                f"test_size sessions each, and there are only {n_sessions:,} sessions "
                f"(at most {n_sessions // 2:,})."
            )
        rng = np.random.default_rng(config.seed)
        index = rng.choice(range(n_sessions), 2 * config.test_size, replace=False)
        test_ids, validation_ids = index[: config.test_size], index[config.test_size :]
        if config.all_final_pairs:
            # FF19's test pairs first, then every other session's final pair outside
            # validation: its last item is not in training either.
            rest = np.setdiff1d(all_ids, index, assume_unique=True)
            test_ids = np.r_[test_ids, rest]
        train = _train_rows(sessions, lengths, np.zeros(0, dtype=np.int64), all_ids)
    else:
        if config.strategy == "predefined":
            if "split" not in sessions.columns:
                raise ConfigError(
                    "split.strategy='predefined' needs a 'split' column ('train'/'test'): "
                    "load the raw data through session_recs.data.datasets.PredefinedSplitDataset."
                )
            is_test = sessions["split"].to_numpy()[starts] == "test"
            test_ids = all_ids[is_test]
            pool = _latest_first(sessions, all_ids[~is_test], starts, lengths)
        else:
            ordered = _latest_first(sessions, all_ids, starts, lengths)
            if config.cutoff is not None:
                if "timestamp" not in sessions.columns:
                    raise ConfigError(
                        "split.cutoff needs session timestamps, and this data has none."
                    )
                last_time = sessions["timestamp"].to_numpy()[starts + lengths - 1]
                after = last_time[ordered] > np.datetime64(pd.Timestamp(config.cutoff))
                test_ids, pool = ordered[after], ordered[~after]
            else:
                n_test = math.ceil(config.test_fraction * n_sessions)
                test_ids, pool = ordered[n_sessions - n_test :], ordered[: n_sessions - n_test]
        n_validation = math.ceil(config.validation_fraction * len(pool))
        validation_ids = pool[len(pool) - n_validation :]
        train_only = pool[: len(pool) - n_validation]
        if not len(test_ids) or not len(validation_ids) or not len(train_only):
            raise DataValidationError(
                f"split.strategy={config.strategy!r} left an empty part: {len(train_only):,} "
                f"training, {len(validation_ids):,} validation and {len(test_ids):,} test "
                "sessions. Adjust the fractions or cutoff."
            )
        prefix_ids = validation_ids if config.validation_prefix_in_train else validation_ids[:0]
        train = _train_rows(sessions, lengths, np.sort(train_only), prefix_ids)
        test_ids = np.sort(test_ids)
        validation_ids = np.sort(validation_ids)

    return Split(
        train_sessions=train,
        validation_pairs=_pairs(sessions, np.asarray(validation_ids), starts, lengths),
        test_pairs=_pairs(sessions, np.asarray(test_ids), starts, lengths),
        test_sessions=_rows_of(sessions, np.asarray(test_ids)),
    )
