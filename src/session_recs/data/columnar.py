"""Sessionize and split on the columnar engine, out of core: the same rules as
:mod:`session_recs.data.sessionize` and :mod:`session_recs.data.split`, as Ibis expressions.

The pandas functions hold a whole table in memory (about 400 bytes an event); these
build queries that the engine (:mod:`session_recs.data.engine`: DuckDB, embedded) runs in
bounded memory, spilling to disk. Written in Ibis, not in one engine's SQL, so the same
expressions can run on another engine.

The outputs equal the pandas path's, row for row and type for type (the tests compare
them on every strategy, order and filter): the interactions carry their row order as a
column (``_row``, :func:`~session_recs.data.engine.read_interactions`), which breaks
every tie a stable sort would. The split draws its sessions with
:func:`session_recs.data.split.choose_sessions` from one row per session, exactly as the
pandas path does.
"""

from __future__ import annotations

import logging
from typing import Any

import ibis
import numpy as np
import pandas as pd
from ibis import _

from session_recs.core.errors import DataValidationError
from session_recs.data.engine import ROW, epoch_ns, errors, release, temporary
from session_recs.data.sessionize import SessionizeConfig, _dropped, _plural, _require
from session_recs.data.split import PAIR_COLUMNS, Split, SplitConfig, choose_sessions

logger = logging.getLogger(__name__)


def _count(table: Any) -> int:
    return int(table.count().execute())


# --- sessionize ---------------------------------------------------------------------------


def _filter_events(events: Any, config: SessionizeConfig, log: dict[str, Any]) -> Any:
    """:func:`session_recs.data.sessionize._filter_events`, as expressions."""
    columns = list(events.columns)
    key = "invoice" if config.strategy == "invoice" else "session_key"
    _require(pd.DataFrame(columns=columns), key, f"sessionize.strategy={config.strategy!r}")
    before = _count(events)
    if config.dropna_all_columns:
        events = events.drop_null([c for c in columns if c not in ("split", ROW)])
        _dropped(log, "rows with a missing value", before - _count(events))
    else:
        timed = ["timestamp"] if "timestamp" in columns else []
        events = events.drop_null([key, "item_id", *timed])
        missing = f"a {key}, item_id or timestamp" if timed else f"a {key} or item_id"
        _dropped(log, f"rows without {missing}", before - _count(events))
    if config.drop_cancellations:
        cancelled = ibis.literal(False)
        if "quantity" in columns:
            cancelled = cancelled | (_.quantity <= 0).fill_null(False)
        if "invoice" in columns:
            cancelled = cancelled | _.invoice.startswith("C").fill_null(False)
        kept = events.filter(~cancelled)
        count = _count(events) - _count(kept)
        events = kept
        _dropped(log, "cancellations", count)
    if config.drop_non_products:
        is_product = _.item_id.re_search(config.product_pattern).fill_null(False)
        dropped = events.filter(~is_product)
        rows, items = dropped.aggregate(rows=_.count(), items=_.item_id.nunique()).execute().iloc[0]
        events = events.filter(is_product)
        _dropped(
            log,
            f"non-product codes (not matching {config.product_pattern!r})",
            int(rows),
            items=int(items),
        )
    if config.min_item_support > 1:
        support = events.group_by("item_id").aggregate(_support=_.count())
        rare = support.filter(_._support < config.min_item_support)
        rows, items = rare.aggregate(rows=_._support.sum(), items=_.count()).execute().iloc[0]
        events = events.join(support, "item_id").filter(_._support >= config.min_item_support)
        events = events.drop("_support")
        _dropped(
            log,
            f"items seen fewer than {config.min_item_support} times",
            int(0 if pd.isna(rows) else rows),
            items=int(items),
        )
    return events


def _key_order(key: Any) -> list[Any]:
    """Sort keys for session keys, as :func:`session_recs.data.sessionize._key_order`:
    numbers by value; text all-digit first by value (then as written), then as text."""
    if key.type().is_numeric():
        return [key]
    digits = key.re_search(r"^[0-9]+$").fill_null(False)
    value = ibis.ifelse(digits, key.re_replace(r"^0+", ""), ibis.literal(""))
    return [~digits, value.length(), value, key]


def _labelled(events: Any, config: SessionizeConfig) -> tuple[Any, list[str], list[str]]:
    """The events with the strategy's sort columns (``_g*``: whole sessions, in order;
    ``_o*``: events within one) added; returns (events, group columns, order columns)."""
    columns = list(events.columns)
    split_key = [events.split] if "split" in columns else []
    item_order = {"time": ["timestamp"], "column": ["order"], "file": []}[config.order]
    for column in item_order:
        _require(pd.DataFrame(columns=columns), column, f"sessionize.order={config.order!r}")
    if config.strategy == "customer":
        group = [*split_key, *_key_order(events.session_key)]
        within = [events[c] for c in item_order]
    elif config.strategy == "invoice":
        first = events.group_by("invoice").aggregate(_first=_[ROW].min())
        events = events.join(first, "invoice")
        group = [*split_key, events._first]
        within = [events[c] for c in item_order]
    else:
        _require(pd.DataFrame(columns=columns), "timestamp", "sessionize.strategy='time_gap'")
        partition = [_.split, _.session_key] if split_key else [_.session_key]
        window = ibis.window(group_by=partition, order_by=[_.timestamp, _[ROW]])
        events = events.mutate(_ns=epoch_ns(events.timestamp))
        events = events.mutate(_previous=_._ns.lag().over(window))
        limit = int(config.gap_minutes * 60e9)
        new = (_._previous.isnull() | ((_._ns - _._previous) > limit)).cast("int64")
        events = events.mutate(_new=new)
        events = events.mutate(_gap=_._new.cumsum().over(window))
        split_key = [events.split] if split_key else []
        group = [*split_key, *_key_order(events.session_key), events._gap]
        within = [events.timestamp]
    named_group = {f"_g{i}": expr for i, expr in enumerate(group)}
    named_within = {f"_o{i}": expr for i, expr in enumerate(within)}
    events = events.mutate(**named_group, **named_within)
    return events, list(named_group), list(named_within)


def _log_order_ties(events: Any, group: list[str], log: dict[str, Any]) -> None:
    """:func:`session_recs.data.sessionize._log_order_ties`: sessions whose ``order``
    values tie (those keep file order)."""
    ties = events.group_by([*group, "order"]).aggregate(_tied=_.count()).filter(_._tied > 1)
    ties = ties.group_by(group).aggregate(_rows=_._tied.sum())
    sessions, rows = ties.aggregate(sessions=_.count(), rows=_._rows.sum()).execute().iloc[0]
    log["order_ties"] = {"sessions": int(sessions), "rows": int(0 if pd.isna(rows) else rows)}
    if sessions:
        logger.info(
            "order column ties: %s (%s) share an order value with another event of their "
            "session; tied events keep their file order",
            _plural(int(sessions), "session"),
            _plural(int(rows), "row"),
        )


def sessionize_table(events: Any, config: SessionizeConfig) -> tuple[Any, dict[str, Any]]:
    """:func:`session_recs.data.sessionize.sessionize_with_log` on an interaction table
    with a ``_row`` column: the session table (sorted, held by the engine) and the log."""
    if ROW not in events.columns:
        raise DataValidationError(
            "The interactions table has no row order (its '_row' column): load it from a "
            "TableDataset with row_order: true (the default) or "
            "session_recs.data.engine.read_interactions."
        )
    con = events._find_backend()
    with errors("sessionizing the interactions", con):
        return _sessionize(con, events, config)


def _sessionize(con: Any, events: Any, config: SessionizeConfig) -> tuple[Any, dict[str, Any]]:
    held: list[Any] = []
    log: dict[str, Any] = {"input_rows": _count(events), "dropped": []}
    events, group, within = _labelled(_filter_events(events, config, log), config)
    order = [*within, ROW]
    if config.order == "column":
        _log_order_ties(events, group, log)
    keep_columns = [c for c in ("session_key", "timestamp", "split") if c in events.columns]
    events = events.select(*group, "item_id", *order, *keep_columns)
    if config.collapse_repeats:
        window = ibis.window(group_by=group, order_by=order)
        events = events.mutate(_repeat=(_.item_id == _.item_id.lag().over(window)).fill_null(False))
        events = temporary(con, "events", events)
        held.append(events)
        count = int(events._repeat.sum().execute() or 0)
        events = events.filter(~_._repeat).drop("_repeat")
        _dropped(log, "repeats collapsed (an item right after itself)", count)
    # One row per session, in the strategy's order: small beside the events.
    lengths = events.group_by(group).aggregate(_n=_.count())
    lengths = temporary(con, "lengths", lengths)
    if config.min_session_length > 1:
        short = lengths.filter(_._n < config.min_session_length)
        sessions, rows = short.aggregate(sessions=_.count(), rows=_._n.sum()).execute().iloc[0]
        step = (
            "single-event sessions"
            if config.min_session_length == 2
            else f"sessions shorter than {config.min_session_length} events"
        )
        _dropped(log, step, int(0 if pd.isna(rows) else rows), sessions=int(sessions))
    kept = lengths.filter(_._n >= config.min_session_length)
    kept = kept.mutate(session_id=ibis.row_number().over(order_by=group))
    kept = temporary(con, "kept", kept.drop("_n"))
    joined = events.join(kept, group)
    window = ibis.window(group_by="session_id", order_by=order)
    sessions = joined.select(
        session_id=joined.session_id.cast("int64"),
        position=ibis.row_number().over(window).cast("int32"),
        item_id=joined.item_id,
        **{c: joined[c] for c in keep_columns},
    ).order_by(["session_id", "position"])
    sessions = temporary(con, "sessions", sessions)  # released once saved (release)
    for table in (*held, lengths, kept):
        release(table)
    totals = sessions.aggregate(
        sessions=_.session_id.nunique(), events=_.count(), items=_.item_id.nunique()
    ).execute()
    log["output"] = {unit: int(totals[unit].iloc[0]) for unit in ("sessions", "events", "items")}
    if not log["output"]["events"]:
        raise DataValidationError(
            f"No session is left after filtering {log['input_rows']:,} interactions "
            f"(strategy={config.strategy!r}, min_session_length={config.min_session_length}). "
            "Loosen the sessionize parameters or check the input."
        )
    logger.info(
        "Sessionized %s into %s",
        _plural(log["input_rows"], "interaction"),
        ", ".join(_plural(n, unit[:-1]) for unit, n in log["output"].items()),
    )
    return sessions, log


def item_catalog_table(interactions: Any, sessions: Any) -> Any:
    """:func:`session_recs.data.sessionize.item_catalog`, as an expression."""
    stats = sessions.group_by("item_id").aggregate(
        n_events=_.count(), n_sessions=_.session_id.nunique()
    )
    if "description" in interactions.columns:
        described = interactions.drop_null(["item_id", "description"])
        first = described.group_by("item_id").aggregate(description=_.description.argmin(_[ROW]))
        stats = stats.left_join(first, "item_id")
    else:
        stats = stats.mutate(description=ibis.null("string"))
    return stats.select("item_id", "description", "n_events", "n_sessions").order_by("item_id")


# --- split --------------------------------------------------------------------------------


def _per_session(sessions: Any) -> pd.DataFrame:
    """One row per session, in id order: length, last event's time, source split."""
    columns = list(sessions.columns)
    values: dict[str, Any] = {"length": _.count()}
    if "timestamp" in columns:
        values["last_time"] = _.timestamp.argmax(_.position)
    if "split" in columns:
        values["first_split"] = _.split.argmin(_.position)
    table = sessions.group_by("session_id").aggregate(**values).order_by("session_id")
    frame = table.execute()
    ids = frame["session_id"].to_numpy()
    if len(ids) and (ids[0] != 0 or ids[-1] != len(ids) - 1):
        raise DataValidationError(
            "sessions must be numbered 0..n-1 (as the sessionize pipeline writes them); found "
            "another numbering in column 'session_id'."
        )
    return frame


def _pairs(sessions: Any, lengths: Any, *chosen: np.ndarray) -> list[pd.DataFrame]:
    """(second-to-last, last) pairs of each array of ``chosen`` sessions, in its order: one
    pass over the sessions for all of them."""
    ends = sessions.join(lengths, "session_id").filter(_.position >= _.length - 2)
    every = np.unique(np.concatenate(chosen)).astype(np.int64)
    wanted = ibis.memtable(pd.DataFrame({"session_id": every}))
    ends = ends.join(wanted, "session_id")
    frame = (
        ends.group_by("session_id")
        .aggregate(
            query_item=_.item_id.argmin(_.position),
            target_item=_.item_id.argmax(_.position),
        )
        .execute()
        .set_index("session_id")
    )
    pairs = []
    for ids in chosen:
        index = pd.Index(np.asarray(ids, dtype=np.int64), name="session_id")
        pairs.append(frame.reindex(index).reset_index()[list(PAIR_COLUMNS)])
    return pairs


def split_table(sessions: Any, config: SplitConfig) -> Split:
    """:func:`session_recs.data.split.split_sessions` on a session table: train and test
    sessions as expressions (sorted), the pairs as DataFrames (one row per session)."""
    with errors("splitting the sessions", sessions._find_backend()):
        return _split(sessions, config)


def _split(sessions: Any, config: SplitConfig) -> Split:
    summary = _per_session(sessions)
    if summary.empty:
        raise DataValidationError("There are no sessions to split.")
    lengths = summary["length"].to_numpy()
    last_time = summary["last_time"].to_numpy() if "last_time" in summary else None
    is_test = (summary["first_split"] == "test").to_numpy() if "first_split" in summary else None
    choice = choose_sessions(config, lengths, last_time, is_test)
    columns = ["session_id", "position", "item_id"] + (
        ["timestamp"] if "timestamp" in sessions.columns else []
    )
    n = len(lengths)
    whole = np.zeros(n, dtype=bool)
    whole[choice.train_ids] = True
    prefix = np.zeros(n, dtype=bool)
    prefix[choice.prefix_ids] = True
    roles = pd.DataFrame(
        {
            "session_id": np.arange(n, dtype=np.int64),
            "length": lengths,
            "whole": whole,
            "prefix": prefix,
        }
    )
    roles = roles[roles["whole"] | roles["prefix"]]
    flagged = sessions.join(ibis.memtable(roles), "session_id")
    train = flagged.filter(_.whole | (_.prefix & (_.position < _.length - 1)))
    train = train.select(*columns).order_by(["session_id", "position"])
    tested = ibis.memtable(
        pd.DataFrame({"session_id": np.unique(choice.test_ids).astype(np.int64)})
    )
    test_sessions = sessions.join(tested, "session_id").select(*columns)
    test_sessions = test_sessions.order_by(["session_id", "position"])
    length_table = ibis.memtable(summary[["session_id", "length"]])
    validation_pairs, test_pairs = _pairs(
        sessions, length_table, choice.validation_ids, choice.test_ids
    )
    return Split(
        train_sessions=train,
        validation_pairs=validation_pairs,
        test_pairs=test_pairs,
        test_sessions=test_sessions,
    )
