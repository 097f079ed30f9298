"""Turn an interaction table into sessions: ordered item sequences, one row per event.

Strategies (parameter ``strategy``):

- ``customer``: one session per ``session_key`` (a customer, or a session id the
  source already has), sessions in ascending key order. FF19's recipe. Numeric keys
  ascend by value. Text keys (a text file's ids are kept as written) ascend all-digit
  keys first, by value, then every other key as text; keys of equal value ("007" and
  "7") stay two sessions, in text order. So a file's numeric ids give the same order
  whether they were read as numbers or as text.
- ``invoice``: one session per ``invoice`` (basket), in order of first appearance.
- ``time_gap``: a key's events, ordered by time, split wherever the idle gap exceeds
  ``gap_minutes``.

Filters run in a fixed order: missing values, cancellations, non-product codes,
minimum item support, consecutive repeats, minimum session length. Missing values are
a missing key or item and, when the interactions have timestamps, a missing timestamp
(such an event has no place in time; the ingest logs how many there are). Each filter
that runs logs one line saying what it dropped, and :func:`sessionize_with_log` returns
the same counts (the ``sessionize_log`` dataset, which the dataset profile lists):
nothing is dropped silently.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError

logger = logging.getLogger(__name__)

SESSION_COLUMNS = ("session_id", "position", "item_id")


#: Longest idle gap allowed (minutes): ten years, well inside datetime64's range.
MAX_GAP_MINUTES = 10 * 365 * 24 * 60


class SessionizeConfig(Settings):
    """Sessionization settings; see the module docstring and parameters_sessionize.yml.

    ``order``: ``file`` (the source's row order), ``time`` (stable sort by timestamp) or
    ``column`` (stable sort by the source's ``order`` column).
    """

    section: ClassVar[str] = "sessionize"

    strategy: Literal["customer", "invoice", "time_gap"] = "customer"
    order: Literal["file", "time", "column"] = "file"
    gap_minutes: float = Field(30.0, gt=0, le=MAX_GAP_MINUTES, allow_inf_nan=False)
    min_session_length: int = Field(2, ge=1)
    dropna_all_columns: bool = False
    drop_cancellations: bool = False
    drop_non_products: bool = False
    product_pattern: str = r"^\d{5}"
    collapse_repeats: bool = False
    min_item_support: int = Field(1, ge=1)

    @field_validator("product_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        """The pattern must compile as the regular expression pandas' string columns use."""
        try:
            pc.match_substring_regex(pa.array([""]), pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            detail = str(err).split(":", 1)[-1].strip()
            raise ValueError(f"expected a regular expression ({detail})") from None
        return pattern


def _require(interactions: pd.DataFrame, column: str, why: str) -> None:
    if column not in interactions.columns:
        raise ConfigError(
            f"{why} needs the interaction column '{column}', which this dataset lacks "
            f"(it has {list(interactions.columns)}). Map it under 'columns' in the source's "
            "catalog entry or choose another sessionize setting."
        )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _dropped(log: dict[str, Any], step: str, rows: int, **units: int) -> None:
    """Record and log what filter ``step`` removed: ``rows``, and sessions or items."""
    entry = {"step": step, **units, "rows": rows}
    log["dropped"].append(entry)
    counts = [_plural(n, unit.removesuffix("s")) for unit, n in units.items()]
    logger.info("%s: %s dropped", step, ", ".join([*counts, _plural(rows, "row")]))


def _filter_events(events: pd.DataFrame, config: SessionizeConfig, log: dict) -> pd.DataFrame:
    """Apply the row-level filters, recording and logging how many rows each one removes."""
    key = "invoice" if config.strategy == "invoice" else "session_key"
    _require(events, key, f"sessionize.strategy={config.strategy!r}")
    before = len(events)
    if config.dropna_all_columns:
        events = events.dropna(subset=[c for c in events.columns if c != "split"])
        _dropped(log, "rows with a missing value", before - len(events))
    else:
        timed = ["timestamp"] if "timestamp" in events.columns else []
        events = events.dropna(subset=[key, "item_id", *timed])
        missing = f"a {key}, item_id or timestamp" if timed else f"a {key} or item_id"
        _dropped(log, f"rows without {missing}", before - len(events))
    if config.drop_cancellations:
        cancelled = np.zeros(len(events), dtype=bool)
        if "quantity" in events.columns:
            cancelled |= (events["quantity"] <= 0).fillna(False).to_numpy(dtype=bool)
        if "invoice" in events.columns:
            cancelled |= events["invoice"].str.startswith("C").fillna(False).to_numpy(dtype=bool)
        events = events[~cancelled]
        _dropped(log, "cancellations", int(cancelled.sum()))
    if config.drop_non_products:
        is_product = events["item_id"].str.contains(config.product_pattern, regex=True)
        is_product = is_product.fillna(False).to_numpy(dtype=bool)
        dropped_items = events["item_id"][~is_product].nunique()
        events = events[is_product]
        _dropped(
            log,
            f"non-product codes (not matching {config.product_pattern!r})",
            int((~is_product).sum()),
            items=int(dropped_items),
        )
    if config.min_item_support > 1:
        counts = events["item_id"].value_counts()
        support = events["item_id"].map(counts).to_numpy()
        rare = support < config.min_item_support
        events = events[~rare]
        _dropped(
            log,
            f"items seen fewer than {config.min_item_support} times",
            int(rare.sum()),
            items=int((counts < config.min_item_support).sum()),
        )
    return events


def _key_order(keys: pd.Series) -> pd.Series:
    """A sort key for session keys: numeric keys as they are; text keys ranked all-digit
    first by value (then as written), then the others as text; missing keys last."""
    if pd.api.types.is_numeric_dtype(keys):
        return keys
    codes, uniques = pd.factorize(keys)
    text = pd.Series(uniques, dtype="str")
    digits = text.str.fullmatch(r"[0-9]+").fillna(False).astype(bool)
    value = text.str.lstrip("0").where(digits, "")
    # All-digit strings of equal length compare as their numbers do.
    ranked = pd.DataFrame(
        {"other": ~digits, "length": value.str.len(), "value": value, "text": text}
    ).sort_values(["other", "length", "value", "text"], kind="stable")
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[ranked.index.to_numpy()] = np.arange(len(uniques))
    order = np.where(codes >= 0, rank[codes], len(uniques))
    return pd.Series(order, index=keys.index)


def _log_order_ties(events: pd.DataFrame, log: dict) -> None:
    """Record and log the sessions whose ``order`` values tie (those keep file order)."""
    tied = events.duplicated(["_group", "order"], keep=False).to_numpy()
    sessions = int(events["_group"][tied].nunique())
    log["order_ties"] = {"sessions": sessions, "rows": int(tied.sum())}
    if sessions:
        logger.info(
            "order column ties: %s (%s) share an order value with another event of their "
            "session; tied events keep their file order",
            _plural(sessions, "session"),
            _plural(int(tied.sum()), "row"),
        )


def _session_labels(events: pd.DataFrame, config: SessionizeConfig) -> pd.DataFrame:
    """Sort events into sessions and return them with a raw ``_group`` label per event."""
    split_key = ["split"] if "split" in events.columns else []
    item_order = {"time": ["timestamp"], "column": ["order"], "file": []}[config.order]
    for column in item_order:
        _require(events, column, f"sessionize.order={config.order!r}")
    if config.strategy == "customer":
        events = events.assign(_key=_key_order(events["session_key"]))
        events = events.sort_values(
            [*split_key, "_key", *item_order], kind="stable", na_position="last"
        )
        group_cols = [*split_key, "session_key"]
    elif config.strategy == "invoice":
        # ngroup(sort=False) numbers invoices in order of first appearance.
        events = events.assign(_first=events.groupby("invoice", sort=False).ngroup())
        events = events.sort_values([*split_key, "_first", *item_order], kind="stable")
        group_cols = [*split_key, "_first"]
    else:
        _require(events, "timestamp", "sessionize.strategy='time_gap'")
        events = events.assign(_key=_key_order(events["session_key"]))
        events = events.sort_values([*split_key, "_key", "timestamp"], kind="stable")
        key_code = events.groupby([*split_key, "session_key"], sort=False).ngroup().to_numpy()
        same_key = np.r_[False, key_code[1:] == key_code[:-1]]
        gap = events["timestamp"].diff().to_numpy()
        gap_limit = np.timedelta64(int(config.gap_minutes * 60e9), "ns")
        new_session = ~same_key | (gap > gap_limit)
        events = events.assign(_gap_group=np.cumsum(new_session))
        group_cols = ["_gap_group"]
    session_index = events.groupby(group_cols, sort=False, dropna=False).ngroup().to_numpy()
    return events.assign(_group=session_index)


def sessionize(interactions: pd.DataFrame, config: SessionizeConfig) -> pd.DataFrame:
    """Build the long-format session table: ``session_id``, ``position``, ``item_id`` (+ context).

    Context columns kept when the interactions have them: ``session_key``, ``timestamp``
    and ``split``. Sessions are numbered 0..n-1 in the strategy's order.
    """
    return sessionize_with_log(interactions, config)[0]


def sessionize_with_log(
    interactions: pd.DataFrame, config: SessionizeConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`sessionize`, and what it did: the rows read, what every filter dropped
    (``dropped``: one entry per filter that ran, in order: ``step``, ``rows`` and, where
    they apply, ``sessions`` or ``items``), ties in the ``order`` column, and the result."""
    log: dict[str, Any] = {"input_rows": len(interactions), "dropped": []}
    events = _session_labels(_filter_events(interactions, config, log), config)
    if config.order == "column":
        _log_order_ties(events, log)
    group = events["_group"].to_numpy()
    if config.collapse_repeats:
        items = events["item_id"].to_numpy()
        repeat = np.zeros(len(events), dtype=bool)
        repeat[1:] = (items[1:] == items[:-1]) & (group[1:] == group[:-1])
        events = events[~repeat]
        group = group[~repeat]
        _dropped(log, "repeats collapsed (an item right after itself)", int(repeat.sum()))
    lengths = np.bincount(group) if len(group) else np.zeros(0, dtype=np.int64)
    if config.min_session_length > 1:
        short = (lengths > 0) & (lengths < config.min_session_length)
        step = (
            "single-event sessions"
            if config.min_session_length == 2
            else f"sessions shorter than {config.min_session_length} events"
        )
        _dropped(log, step, int(lengths[short].sum()), sessions=int(short.sum()))
    keep = lengths[group] >= config.min_session_length
    events = events[keep]
    group = group[keep]
    if not len(events):
        raise DataValidationError(
            f"No session is left after filtering {len(interactions):,} interactions "
            f"(strategy={config.strategy!r}, min_session_length={config.min_session_length}). "
            "Loosen the sessionize parameters or check the input."
        )
    # Renumber the surviving sessions densely, keeping their order.
    starts = np.r_[True, group[1:] != group[:-1]]
    session_id = np.cumsum(starts) - 1
    position = np.arange(len(events)) - np.flatnonzero(starts)[session_id]
    sessions = pd.DataFrame(
        {
            "session_id": session_id.astype(np.int64),
            "position": position.astype(np.int32),
            "item_id": events["item_id"].to_numpy(),
        }
    )
    for column in ("session_key", "timestamp", "split"):
        if column in events.columns:
            sessions[column] = events[column].to_numpy()
    log["output"] = {
        "sessions": int(session_id[-1] + 1),
        "events": len(sessions),
        "items": int(sessions["item_id"].nunique()),
    }
    logger.info(
        "Sessionized %s into %s",
        _plural(len(interactions), "interaction"),
        ", ".join(_plural(n, unit[:-1]) for unit, n in log["output"].items()),
    )
    return sessions, log


def item_catalog(interactions: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """One row per item in the sessions: id, description, event count and session count."""
    stats = sessions.groupby("item_id", sort=True).agg(
        n_events=("session_id", "size"), n_sessions=("session_id", "nunique")
    )
    if "description" in interactions.columns:
        described = interactions.dropna(subset=["item_id", "description"])
        names = described.groupby("item_id", sort=False)["description"].first()
        stats["description"] = names.reindex(stats.index)
    else:
        stats["description"] = pd.Series(pd.NA, index=stats.index, dtype="str")
    return stats.reset_index()[["item_id", "description", "n_events", "n_sessions"]]


def sessions_as_lists(sessions: pd.DataFrame) -> list[list[str]]:
    """The sessions as Python lists of item ids, in session order (for gensim and parity)."""
    items = sessions["item_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, np.diff(sessions["session_id"].to_numpy()) != 0])
    return [chunk.tolist() for chunk in np.split(items, starts[1:])]
