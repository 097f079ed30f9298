"""A dataset's profile: its size, its sessions' shape, and how much of its test is unseen.

The numbers a reader needs before any metric: how many events, sessions and items; how
long sessions are; how often an item repeats within its session (repeat purchases make a
"the session so far" context worth much more); the time span; and the share of test
targets (and query items) that never occur in training, which no model can rank. And
what sessionize dropped on the way (its ``sessionize_log``): rows, sessions and items
per filter, so the counts above say what they are counts of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from session_recs.core.tables import is_table
from session_recs.evaluation.provenance import RepeatEvidence, split_fingerprints

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.95, 1.0)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def _text(values: Any) -> pa.Array:
    """Item ids as one Arrow text array (no copy for pandas' Arrow-backed text)."""
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def _unseen_share(values: pd.Series, known: pa.Array) -> float:
    """The share of ``values`` not among the ``known`` items, by Arrow's hash lookup
    (pandas 3's ``isin`` on text took 10 s per call against 1.5 M training items)."""
    seen = pc.is_in(_text(values), value_set=known).to_numpy(zero_copy_only=False)
    return _share(~seen)


def session_stats(sessions: pd.DataFrame) -> dict[str, Any]:
    """The session table's own numbers: events, sessions, items, session lengths, the
    share of repeated items and the time span (with timestamps). The columnar engine's
    twin is :func:`session_recs.data.columnar.session_stats_table`."""
    lengths = sessions.groupby("session_id", sort=False).size().to_numpy()
    first = last = None
    if "timestamp" in sessions.columns and sessions["timestamp"].notna().any():
        first, last = sessions["timestamp"].min(), sessions["timestamp"].max()
    return shaped_stats(
        len(sessions),
        lengths,
        int(sessions["item_id"].nunique()),
        int(sessions.duplicated(["session_id", "item_id"]).sum()),
        first,
        last,
    )


def session_stats_table(sessions: Any) -> dict[str, Any]:
    """:func:`session_stats` of a columnar engine's session table (an Ibis table)."""
    from ibis import _

    from session_recs.data.engine import errors

    with errors("profiling the sessions", sessions._find_backend()):
        return _stats_of_table(sessions, _)


def _stats_of_table(sessions: Any, _: Any) -> dict[str, Any]:
    lengths = sessions.group_by("session_id").aggregate(n=_.count()).n.execute().to_numpy()
    pairs = sessions.select("session_id", "item_id").distinct().count().execute()
    values: dict[str, Any] = {"events": _.count(), "items": _.item_id.nunique()}
    if "timestamp" in sessions.columns:
        values.update(first=_.timestamp.min(), last=_.timestamp.max())
    row = sessions.aggregate(**values).execute().iloc[0]
    events = int(row["events"])
    return shaped_stats(
        events, lengths, int(row["items"]), events - int(pairs), row.get("first"), row.get("last")
    )


def shaped_stats(  # noqa: PLR0917 (one value per number of the profile)
    events: int, lengths: np.ndarray, items: int, repeats: int, first: Any, last: Any
) -> dict[str, Any]:
    """The profile's session numbers from their parts (either engine computes them)."""
    stats: dict[str, Any] = {
        "events": events,
        "sessions": len(lengths),
        "items": items,
        "session_length": {
            "mean": round(float(lengths.mean()), 2),
            **{
                f"p{int(q * 100)}": float(value)
                for q, value in zip(QUANTILES, np.quantile(lengths, QUANTILES), strict=True)
            },
        },
        "repeated_item_share": round(repeats / events if events else 0.0, 4),
    }
    if first is not None and not pd.isna(first):
        first, last = pd.Timestamp(first), pd.Timestamp(last)
        stats["time_span"] = {
            "first": str(first),
            "last": str(last),
            "days": round((last - first).total_seconds() / 86400, 1),
        }
    return stats


def _train_counts(train_sessions: Any) -> tuple[int, int, pa.Array]:
    """Events, sessions and the distinct items (as Arrow text) of the training sessions: a
    DataFrame, or a columnar engine's table counted there."""
    if not is_table(train_sessions):
        items = _text(train_sessions["item_id"].unique())
        return len(train_sessions), int(train_sessions["session_id"].nunique()), items
    from ibis import _

    row = train_sessions.aggregate(events=_.count(), sessions=_.session_id.nunique())
    counts = row.execute().iloc[0]
    items = train_sessions.select("item_id").distinct().to_pyarrow()["item_id"]
    return int(counts["events"]), int(counts["sessions"]), _text(items)


def dataset_profile(
    sessions: pd.DataFrame | dict[str, Any],
    train_sessions: Any,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    sessionize_log: dict[str, Any] | None = None,
    *,
    split: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The profile of a split dataset, as plain numbers (a JSON-ready dict); with
    ``sessionize_log``, also the interactions read and what each filter dropped; with the
    split's settings (``split``); and the content fingerprints of its training sessions
    and test data, which every model's metrics also carry. ``sessions``: the session
    table, or its :func:`session_stats` computed elsewhere."""
    stats = dict(sessions) if isinstance(sessions, dict) else session_stats(sessions)
    span = stats.pop("time_span", None)
    events, n_sessions, known = _train_counts(train_sessions)
    revealed = test_sessions[test_sessions["position"] > 0]
    profile: dict[str, Any] = {
        **stats,
        "train": {"events": events, "sessions": n_sessions, "items": len(known)},
        "test": {
            "pairs": len(test_pairs),
            "sessions": int(test_sessions["session_id"].nunique()),
            "unseen_target_share": round(_unseen_share(test_pairs["target_item"], known), 4),
            "unseen_query_share": round(_unseen_share(test_pairs["query_item"], known), 4),
            "revealed_targets": len(revealed),
            "unseen_revealed_target_share": round(_unseen_share(revealed["item_id"], known), 4),
        },
    }
    if sessionize_log is not None:
        profile["sessionize"] = {
            key: sessionize_log[key]
            for key in ("input_rows", "dropped", "order_ties")
            if key in sessionize_log
        }
    repeats = RepeatEvidence.of(train_sessions)
    profile["train"]["transitions"] = repeats.transitions
    profile["train"]["repeated_transitions"] = repeats.repeats
    if split is not None:
        profile["split"] = dict(split)
    profile["fingerprints"] = split_fingerprints(train_sessions, test_pairs, test_sessions)
    if span is not None:
        profile["time_span"] = span
    return profile


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def dropped_lines(sessionize: dict[str, Any]) -> list[tuple[str, str]]:
    """What sessionize read and dropped, as (label, value) rows: one per filter that ran."""
    rows = [("interactions read", _count(sessionize["input_rows"], "row"))]
    for entry in sessionize.get("dropped", []):
        units = [_count(entry[unit], unit[:-1]) for unit in ("sessions", "items") if unit in entry]
        rows.append(
            (f"dropped: {entry['step']}", ", ".join([*units, _count(entry["rows"], "row")]))
        )
    ties = sessionize.get("order_ties") or {}
    if ties.get("sessions"):
        rows.append(
            (
                "order column ties",
                f"{_count(ties['sessions'], 'session')} ({_count(ties['rows'], 'row')}) share "
                "an order value; tied events keep their file order",
            )
        )
    return rows


def profile_lines(profile: dict[str, Any]) -> list[tuple[str, str]]:
    """The profile as (label, value) rows for the report."""
    length = profile["session_length"]
    test = profile["test"]
    rows = [
        *(dropped_lines(profile["sessionize"]) if "sessionize" in profile else []),
        ("events", f"{profile['events']:,}"),
        ("sessions", f"{profile['sessions']:,}"),
        ("items", f"{profile['items']:,}"),
        (
            "session length",
            f"mean {length['mean']:g}, median {length['p50']:g}, "
            f"25-75% {length['p25']:g}-{length['p75']:g}, 95% {length['p95']:g}, "
            f"max {length['p100']:g}",
        ),
        ("items repeated within their session", f"{profile['repeated_item_share']:.1%}"),
        (
            "training",
            f"{profile['train']['sessions']:,} sessions, {profile['train']['events']:,} events, "
            f"{profile['train']['items']:,} items",
        ),
        (
            "test",
            f"{test['pairs']:,} last pairs from {test['sessions']:,} sessions; "
            f"{test['revealed_targets']:,} next-item targets when revealed one by one",
        ),
        (
            "unseen in training",
            f"{test['unseen_target_share']:.1%} of last-pair targets, "
            f"{test['unseen_query_share']:.1%} of query items, "
            f"{test['unseen_revealed_target_share']:.1%} of revealed targets",
        ),
    ]
    if "time_span" in profile:
        span = profile["time_span"]
        rows.append(("time span", f"{span['first']} to {span['last']} ({span['days']:g} days)"))
    if "split" in profile:
        rows.append(("split", split_line(profile["split"])))
    return rows


def as_word(value: Any) -> str:
    """A setting's value as written in the YAML files (``true``, ``null``, ``0.1``)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def split_line(split: Mapping[str, Any]) -> str:
    """The split's settings in one line: its strategy and the settings that strategy reads."""
    strategy = split.get("strategy")
    used = {
        "ff19": ("test_size", "seed", "all_final_pairs"),
        "temporal": ("test_fraction", "cutoff", "validation_fraction"),
        "predefined": ("validation_fraction",),
    }.get(str(strategy), tuple(split))
    shown = ", ".join(f"{key} {as_word(split[key])}" for key in used if key in split)
    return f"{strategy}" + (f" ({shown})" if shown else "")
