"""Settings that follow from what a source provides, when the configuration leaves them ``auto``.

A source's catalog entry says whether it comes as given ``train``/``test`` files, whether
it maps a ``timestamp`` and whether it maps an ``order`` column
(:meth:`session_recs.framework.datasets.SourceDataset.shape`). From that alone:

==========================  =====================================================
the source has              defaults
==========================  =====================================================
train and test files        ``predefined`` split trained on the whole training file
                            (no validation); ``iterative_revealing`` in the
                            ``session`` context, test items never seen in training
                            dropped, report @20 (session-rec's conventions)
timestamps                  clicks in time order; a ``temporal`` split
an order column             clicks in that column's order
neither                     file order; the random ``ff19`` split
==========================  =====================================================

Everything else keeps the value in ``conf/``. Two defaults need the data itself:
``split.test_size: auto`` (the number of sessions; the split resolves it) and
``evaluation.exclude_query: auto`` (whether sessions repeat the previous item; the
evaluation decides it from the training sessions, :mod:`session_recs.evaluation.provenance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUTO = "auto"


@dataclass(frozen=True)
class SourceShape:
    """What a source's catalog entry provides."""

    predefined_split: bool = False
    timestamps: bool = False
    order_column: bool = False


@dataclass(frozen=True)
class Choice:
    """One inferred setting: its dotted key, the value and why."""

    key: str
    value: Any
    reason: str


def infer_settings(shape: SourceShape) -> list[Choice]:
    """The value of every setting that ``auto`` stands for, for a source of ``shape``."""
    if shape.order_column:
        order = Choice("sessionize.order", "column", "the source maps an order column")
    elif shape.timestamps:
        order = Choice("sessionize.order", "time", "the source has timestamps")
    else:
        order = Choice("sessionize.order", "file", "the source has no timestamps")
    if shape.predefined_split:
        given = "the source comes as train and test files"
        return [
            order,
            Choice("split.strategy", "predefined", given),
            Choice(
                "split.validation_fraction",
                0,
                given + ": published protocols train on the whole training file",
            ),
            Choice("evaluation.protocols", ["iterative_revealing"], given),
            Choice("evaluation.contexts", ["session"], given),
            Choice("evaluation.unknown_targets", "drop", given),
            Choice("report.k", 20, given),
        ]
    if shape.timestamps:
        strategy = Choice("split.strategy", "temporal", "the source has timestamps")
    else:
        strategy = Choice("split.strategy", "ff19", "the source has no timestamps")
    one_file = "the source is one file"
    return [
        order,
        strategy,
        Choice("split.validation_fraction", 0.1, one_file),
        Choice("evaluation.protocols", ["last_pair"], one_file),
        Choice("evaluation.contexts", ["last_item", "session"], one_file),
        Choice("evaluation.unknown_targets", "keep", one_file),
        Choice("report.k", 10, one_file),
    ]


def auto_test_size(n_sessions: int, cap: int = 1000) -> int:
    """``split.test_size: auto``: a quarter of the sessions, at most ``cap`` (FF19's 1,000).

    Test and validation then take at most half of the sessions, leaving the rest whole
    for training; on Online Retail's 4,234 sessions it is FF19's 1,000.
    """
    return max(1, min(cap, n_sessions // 4))
