"""What a result was measured on: content fingerprints of the split, and evidence-based
evaluation settings.

Every ``<model>.metrics`` and ``<model>.query_ranks`` table carries the fingerprints of
the training sessions and of the test data it was measured on, with the evaluation
settings in force (:data:`PROVENANCE_COLUMNS`). The report compares a model with the
others only when these match the split it reads (:mod:`session_recs.evaluation.compare`), so two
numbers measured on different test queries never share a table or a paired test.

A fingerprint is a hash of the content, not of a file or a version: the same sessions
split the same way give the same fingerprint in any run, on any machine.

``evaluation.exclude_query: auto`` is decided here from the training sessions: when
fewer than :data:`REPEAT_SHARE_BOUND` of the training transitions repeat the previous
item, the query item is (almost) never the next one, and recommending it back only
wastes a slot, so it is excluded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from session_recs.core.tables import is_table


def _repeats(ids: pd.Series, items: pd.Series) -> tuple[int, int]:
    """(transitions, of which repeats): consecutive rows of one session, and those whose
    item is the same (items compared by their codes: no Python string per event)."""
    ids_ = ids.to_numpy()
    codes = pd.factorize(items)[0]
    same = ids_[1:] == ids_[:-1]
    return int(same.sum()), int((same & (codes[1:] == codes[:-1])).sum())


#: The columns every metrics and query-ranks table carries (constant within a table).
PROVENANCE_COLUMNS = (
    "dataset",
    "train_fingerprint",
    "test_fingerprint",
    "ks",
    "exclude_query",
    "unknown_targets",
    "model_kind",
    "model_options",
)
#: The fields two results must share to be compared (beyond protocol and context).
COMPARED_FIELDS = ("dataset", "train_fingerprint", "test_fingerprint", "exclude_query",
                   "unknown_targets")  # fmt: skip
#: Below this share of training transitions that repeat the previous item, ``auto``
#: excludes the query item from the recommendations.
REPEAT_SHARE_BOUND = 0.01
_DIGITS = 16
logger = logging.getLogger(__name__)


def fingerprint(*frames: tuple[Any, Sequence[str]]) -> str:
    """A hash of the given columns of each frame, row order included (16 hex digits). A
    columnar engine's table is read a batch of rows at a time, in its file's order: the
    same hash, without the table in memory."""
    digest = hashlib.sha256()
    for frame, columns in frames:
        parts = _column_batches(frame, columns) if is_table(frame) else None
        digest.update(
            json.dumps([list(columns), len(frame) if parts is None else parts[0]]).encode()
        )
        for column in columns:
            for batch in [frame] if parts is None else parts[1](column):
                digest.update(np.ascontiguousarray(_row_hashes(_hashable(batch[column]))).tobytes())
    return digest.hexdigest()[:_DIGITS]


def _column_batches(table: Any, columns: Sequence[str]) -> tuple[int, Any]:
    """(rows, a function giving the values of some of ``columns`` as a DataFrame a batch
    at a time, in the file's order), typed as :func:`~session_recs.core.tables.to_frame`
    types whole columns: an integer column with a missing value is float64 in every
    batch."""
    from session_recs.core.tables import ROW

    ordered = table.order_by(ROW) if ROW in table.columns else table
    floats = [
        column
        for column in columns
        if table[column].type().is_integer() and int(table[column].isnull().sum().execute())
    ]

    def batches(*chosen: str) -> Any:
        for batch in ordered.select(*chosen).to_pyarrow_batches(chunk_size=BATCH_ROWS):
            frame = batch.to_pandas()
            for column in set(floats) & set(chosen):
                frame[column] = frame[column].astype(np.float64)
            yield frame

    return int(table.count().execute()), batches


#: Rows of a table read at once where a whole column is not held (about 10^2 MB of text).
BATCH_ROWS = 4_000_000


def _hashable(values: pd.Series) -> pd.Series:
    """Numbers as they are, anything else as text."""
    return values if pd.api.types.is_numeric_dtype(values) else values.astype("str")


def _row_hashes(values: pd.Series) -> np.ndarray:
    """pandas' hash of each value; text through its distinct values (each hashed once),
    not one Python string per row."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.util.hash_pandas_object(values, index=False).to_numpy()
    codes, uniques = pd.factorize(values)
    if len(codes) and codes.min() < 0:  # a missing value: hashed as it is
        return pd.util.hash_pandas_object(values, index=False).to_numpy()
    distinct = pd.util.hash_pandas_object(pd.Series(uniques, dtype=values.dtype), index=False)
    return distinct.to_numpy()[codes]


def split_fingerprints(
    train_sessions: pd.DataFrame, test_pairs: pd.DataFrame, test_sessions: pd.DataFrame
) -> dict[str, str]:
    """``train``: the training sessions' items in order; ``test``: the test pairs and the
    test sessions (every query the protocols can ask, and its target)."""
    return {
        "train": fingerprint((train_sessions, ("session_id", "item_id"))),
        "test": fingerprint(
            (test_pairs, ("session_id", "query_item", "target_item")),
            (test_sessions, ("session_id", "item_id")),
        ),
    }


@dataclass(frozen=True)
class RepeatEvidence:
    """How many training transitions (consecutive events of one session) repeat an item."""

    transitions: int
    repeats: int

    @classmethod
    def of(cls, sessions: Any) -> RepeatEvidence:
        """Counted on a long session table (rows in session order): a DataFrame, or a
        columnar engine's table read a batch of rows at a time."""
        if not is_table(sessions):
            return cls(*_repeats(sessions["session_id"], sessions["item_id"]))
        _, batches = _column_batches(sessions, ("session_id", "item_id"))
        transitions = repeats = 0
        last: tuple[Any, Any] | None = None
        for batch in batches("session_id", "item_id"):
            if not len(batch):
                continue
            ids, items = batch["session_id"], batch["item_id"]
            if last is not None and last[0] == ids.iloc[0]:  # the pair across two batches
                transitions += 1
                first = items.iloc[0]
                repeats += int(bool(pd.isna(first) if pd.isna(last[1]) else last[1] == first))
            done = _repeats(ids, items)
            transitions, repeats = transitions + done[0], repeats + done[1]
            last = (ids.iloc[-1], items.iloc[-1])
        return cls(transitions, repeats)

    @property
    def share(self) -> float:
        """The share of transitions that repeat the previous item (0 without transitions)."""
        return self.repeats / self.transitions if self.transitions else 0.0

    def exclude_query(self) -> bool:
        """Whether ``auto`` excludes the query item: repeats are rarer than the bound."""
        return self.share < REPEAT_SHARE_BOUND

    def reason(self) -> str:
        """The evidence, in words: ``0 of 1,180,412 training transitions repeat ...``."""
        return (
            f"{self.repeats:,} of {self.transitions:,} training transitions "
            f"({self.share:.1%}) repeat the previous item"
            + (
                f", under {REPEAT_SHARE_BOUND:.0%}"
                if self.exclude_query()
                else f", at least {REPEAT_SHARE_BOUND:.0%}"
            )
        )


def decide_exclude_query(setting: bool | str, train_sessions: pd.DataFrame) -> tuple[bool, str]:
    """``evaluation.exclude_query`` as a bool, and why: ``auto`` from the training
    sessions' repeats (:class:`RepeatEvidence`, logged once per process and evidence), an
    explicit value as set."""
    if isinstance(setting, bool):
        return setting, "set in the configuration"
    evidence = RepeatEvidence.of(train_sessions)
    decided, why = evidence.exclude_query(), evidence.reason()
    if why not in _LOGGED:
        _LOGGED.add(why)
        logger.info("evaluation.exclude_query = %s: %s", str(decided).lower(), why)
    return decided, why


#: The decisions already logged by this process (each is logged once, not once per model).
_LOGGED: set[str] = set()


def json_options(options: Mapping[str, Any]) -> str:
    """A model's options as canonical JSON (sorted keys; anything else as text)."""
    return json.dumps(dict(options), sort_keys=True, default=str)


def provenance_of(table: pd.DataFrame | None) -> dict[str, Any] | None:
    """The provenance a metrics or query-ranks table carries (None: an older table, or
    none at all)."""
    if table is None or table.empty or not set(COMPARED_FIELDS) <= set(table.columns):
        return None
    first = table.iloc[0]
    return {name: _plain(first[name]) for name in PROVENANCE_COLUMNS if name in table.columns}


def _word(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def differences(measured: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """What differs between the conditions a result was measured under and ``current``
    (the split the report reads, the evaluation settings now), in words; [] when alike."""
    if measured is None:
        return ["no record of what it was measured on (saved by an older session-recs)"]
    words = {
        "dataset": "dataset",
        "train_fingerprint": "training sessions",
        "test_fingerprint": "test queries",
        "exclude_query": "exclude_query",
        "unknown_targets": "unknown_targets",
    }
    out = []
    for name in COMPARED_FIELDS:
        if name not in current or measured.get(name) == current[name]:
            continue
        if name.endswith("_fingerprint"):
            out.append(f"{words[name]} of another split")
        else:
            before, now = (_word(value) for value in (measured.get(name), current[name]))
            out.append(f"{words[name]} {before} (now {now})")
    return out
