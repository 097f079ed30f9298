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
  an :class:`~session_recs.framework.datasets.InteractionsDataset` with train and test
  files); test sessions are kept whole and validation is carved from the latest training
  sessions.

Validation sessions give their prefix (all but the last item) to training when
``validation_prefix_in_train`` is true, as FF19 does; their target never leaks.

``validation_fraction: 0`` (``temporal`` and ``predefined``) trains on every session that
is not tested, as published protocols do: ``validation_pairs`` is then empty (same columns
and types). Models that monitor training record no validation metric; the tune search,
which scores its trials on validation pairs, stops the run. ``ff19`` draws its validation
as ``test_size`` sessions (FF19's protocol) and refuses ``validation_fraction: 0``, as
every strategy refuses ``test_size`` or ``test_fraction`` 0: a run needs a test.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from session_recs.core.config import OptionError, Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.defaults import AUTO, auto_test_size

logger = logging.getLogger(__name__)


class SplitConfig(Settings):
    """Split settings; see the module docstring and parameters_split.yml.

    ``test_size: auto`` is a quarter of the sessions, at most 1,000
    (:func:`session_recs.data.defaults.auto_test_size`).
    """

    section: ClassVar[str] = "split"

    strategy: Literal["ff19", "temporal", "predefined"] = "ff19"
    test_size: Any = 1000  # a whole number >= 1, or "auto" (checked below)
    seed: int = Field(123, ge=0)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    validation_fraction: float = Field(0.1, ge=0, lt=0.5)
    cutoff: str | None = None
    validation_prefix_in_train: bool = True
    all_final_pairs: bool = False

    @field_validator("test_size", mode="before")
    @classmethod
    def _size_or_auto(cls, size: Any) -> int | str:
        if size == AUTO:
            return AUTO
        number = size
        if isinstance(size, str):
            try:
                number = float(size)
            except ValueError:
                number = None
        whole = isinstance(number, int | float) and not isinstance(number, bool)
        if not whole or number % 1 or number < 1:
            raise ValueError(f"expected a whole number >= 1, or {AUTO}")
        return int(number)

    @model_validator(mode="after")
    def _ff19_validates(self) -> SplitConfig:
        if self.strategy == "ff19" and self.validation_fraction == 0:
            raise OptionError(
                self.section,
                "validation_fraction",
                0,
                "the ff19 split draws test_size validation sessions (FF19's protocol) and "
                "does not read validation_fraction; to train without validation use "
                "split.strategy=temporal or predefined",
            )
        return self

    @field_validator("cutoff")
    @classmethod
    def _is_a_date(cls, cutoff: str | None) -> str | None:
        if cutoff is not None:
            try:
                pd.Timestamp(cutoff)
            except (ValueError, TypeError):
                raise ValueError("expected a date such as '2011-11-01'") from None
        return cutoff


class Split(NamedTuple):
    """The outputs of a split, as the catalog stores them."""

    train_sessions: pd.DataFrame
    validation_pairs: pd.DataFrame
    test_pairs: pd.DataFrame
    test_sessions: pd.DataFrame


#: The columns of a table of (query, target) pairs (test_pairs, validation_pairs).
PAIR_COLUMNS = ("session_id", "query_item", "target_item")


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
    pairs = pd.DataFrame(
        {
            "session_id": chosen.astype(np.int64),
            "query_item": items[last - 1],
            "target_item": items[last],
        }
    )
    # An empty object column would be saved untyped: keep the item ids' type.
    item_type = sessions["item_id"].dtype
    return pairs.astype({"query_item": item_type, "target_item": item_type})


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


class Choice(NamedTuple):
    """Which sessions go where, as session ids (rows of the per-session arrays).

    Training holds ``train_ids`` whole and the prefixes (all but the last item) of
    ``prefix_ids``; pairs are taken in the order given (ff19: the draw's order).
    """

    train_ids: np.ndarray
    prefix_ids: np.ndarray
    validation_ids: np.ndarray
    test_ids: np.ndarray


def _latest_first(candidates: np.ndarray, last_time: np.ndarray | None) -> np.ndarray:
    """Candidate session ids ordered by last timestamp, latest last (ties: session order)."""
    if last_time is None:
        return candidates
    return candidates[np.argsort(last_time[candidates], kind="stable")]


def choose_sessions(
    config: SplitConfig,
    lengths: np.ndarray,
    last_time: np.ndarray | None = None,
    is_test: np.ndarray | None = None,
) -> Choice:
    """The split's choice of sessions from one value per session: ``lengths``, the last
    event's time (None without timestamps) and whether the source marked it test (None
    without a ``split`` column). Every engine splits through this one function."""
    n_sessions = len(lengths)
    if not n_sessions:
        raise DataValidationError("There are no sessions to split.")
    if lengths.min() < 2:
        raise ConfigError(
            f"{int((lengths < 2).sum()):,} session(s) have a single item, which cannot form a "
            "(query, target) pair; set sessionize.min_session_length to 2 or more."
        )
    all_ids = np.arange(n_sessions)

    if config.strategy == "ff19":
        test_size = config.test_size
        if test_size == AUTO:
            test_size = auto_test_size(n_sessions)
            logger.info(
                "split.test_size = %s (auto: a quarter of %s sessions, at most 1,000)",
                f"{test_size:,}",
                f"{n_sessions:,}",
            )
        if 2 * test_size > n_sessions:
            raise ConfigError(
                f"split.test_size={test_size:,} is too large: test and validation take "
                f"test_size sessions each, and there are only {n_sessions:,} sessions "
                f"(at most {n_sessions // 2:,}). Set "
                "--params=split.test_size=N, or test_size: auto in the dataset's block."
            )
        rng = np.random.default_rng(config.seed)
        index = rng.choice(range(n_sessions), 2 * test_size, replace=False)
        test_ids, validation_ids = index[:test_size], index[test_size:]
        if config.all_final_pairs:
            # FF19's test pairs first, then every other session's final pair outside
            # validation: its last item is not in training either.
            rest = np.setdiff1d(all_ids, index, assume_unique=True)
            test_ids = np.r_[test_ids, rest]
        return Choice(np.zeros(0, dtype=np.int64), all_ids, validation_ids, test_ids)

    if config.strategy == "predefined":
        if is_test is None:
            raise ConfigError(
                "split.strategy='predefined' needs a 'split' column ('train'/'test'): "
                "give the source as train and test files (session_recs.framework.datasets."
                "InteractionsDataset with `train:` and `test:`)."
            )
        test_ids = all_ids[is_test]
        pool = _latest_first(all_ids[~is_test], last_time)
    else:
        ordered = _latest_first(all_ids, last_time)
        if config.cutoff is not None:
            if last_time is None:
                raise ConfigError("split.cutoff needs session timestamps, and this data has none.")
            after = last_time[ordered] > np.datetime64(pd.Timestamp(config.cutoff))
            test_ids, pool = ordered[after], ordered[~after]
        else:
            n_test = math.ceil(config.test_fraction * n_sessions)
            test_ids, pool = ordered[n_sessions - n_test :], ordered[: n_sessions - n_test]
    n_validation = math.ceil(config.validation_fraction * len(pool))
    validation_ids = pool[len(pool) - n_validation :]
    train_only = pool[: len(pool) - n_validation]
    no_validation = config.validation_fraction > 0 and not len(validation_ids)
    if not len(test_ids) or no_validation or not len(train_only):
        raise DataValidationError(
            f"split.strategy={config.strategy!r} left an empty part: {len(train_only):,} "
            f"training, {len(validation_ids):,} validation and {len(test_ids):,} test "
            "sessions. Adjust the fractions or cutoff."
        )
    if not n_validation:
        logger.info(
            "split.validation_fraction = 0: no validation pairs; all %s non-test sessions "
            "train. Models that monitor training record no validation metric; the tune "
            "pipeline needs validation pairs.",
            f"{len(pool):,}",
        )
    prefix_ids = validation_ids if config.validation_prefix_in_train else validation_ids[:0]
    return Choice(np.sort(train_only), prefix_ids, np.sort(validation_ids), np.sort(test_ids))


def split_sessions(sessions: pd.DataFrame, config: SplitConfig) -> Split:
    """Split a session table (as written by sessionize) according to ``config``."""
    if sessions.empty:
        raise DataValidationError("There are no sessions to split.")
    starts, lengths = _bounds(sessions)
    last = starts + lengths - 1
    last_time = sessions["timestamp"].to_numpy()[last] if "timestamp" in sessions.columns else None
    is_test = sessions["split"].to_numpy()[starts] == "test" if "split" in sessions else None
    choice = choose_sessions(config, lengths, last_time, is_test)
    train = _train_rows(sessions, lengths, choice.train_ids, choice.prefix_ids)
    validation_ids, test_ids = choice.validation_ids, choice.test_ids
    return Split(
        train_sessions=train,
        validation_pairs=_pairs(sessions, np.asarray(validation_ids), starts, lengths),
        test_pairs=_pairs(sessions, np.asarray(test_ids), starts, lengths),
        test_sessions=_rows_of(sessions, np.asarray(test_ids)),
    )
