"""A source given as train and test files gets its published protocol with no override.

The files are shaped like the public session logs that come that way (session-rec's
preprocessed sets): sessions that never repeat an item twice in a row, test sessions
holding items never seen in training, ids with leading zeros. The reference is the
protocol written out by hand, as session-rec's loader and evaluator do it: train on the
whole training file; drop the test events of unseen items, then sessions left with one
event; reveal every next item of every test session; never recommend the query item back
(it is never the next one here).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation.next_event import EvaluationConfig, evaluate_with_ranks
from session_recs.models import build_model

from ..conftest import latest_version, run_in_process

ENTRY = """  mine:
    type: session_recs.framework.datasets.InteractionsDataset
    train: data/01_raw/mine/train.tsv
    test: data/01_raw/mine/test.tsv
    columns: {session_key: SessionId, item_id: ItemId, timestamp: Time}
"""


def walks(rng: np.random.Generator, n: int, start_time: int, unknown_share: float) -> pd.DataFrame:
    """``n`` sessions of 2-7 items, each a step of 1-3 along a ring of 60 items (so no
    item follows itself); a share of test events is replaced by an unseen item."""
    rows = []
    for session in range(n):
        item = int(rng.integers(60))
        for position in range(int(rng.integers(2, 8))):
            if position:
                item = (item + int(rng.integers(1, 4))) % 60
            name = f"{item:04d}"
            if rng.random() < unknown_share:
                name = f"new{session}-{position}"
            rows.append((start_time + session, start_time + session * 100 + position, name))
    return pd.DataFrame(rows, columns=["SessionId", "Time", "ItemId"])


def reference(train: pd.DataFrame, test: pd.DataFrame, kind: str) -> pd.DataFrame:
    """session-rec's protocol, step by step, on the library's model and metrics."""
    test = test[test["ItemId"].isin(train["ItemId"])]
    lengths = test.groupby("SessionId")["ItemId"].transform("size")
    test = test[lengths > 1]

    def long(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.sort_values(["SessionId", "Time"], kind="stable")
        return pd.DataFrame(
            {
                "session_id": pd.factorize(frame["SessionId"])[0],
                "position": frame.groupby("SessionId").cumcount().to_numpy(),
                "item_id": frame["ItemId"].to_numpy(),
            }
        )

    train_long, test_long = long(train), long(test)
    model = build_model(kind).fit(train_long)
    pairs = pd.DataFrame(columns=["session_id", "query_item", "target_item"])
    config = EvaluationConfig(
        ks=(5, 10, 20), protocols=("iterative_revealing",), contexts=("session",),
        exclude_query=True, unknown_targets="keep", n_boot=10,
    )  # fmt: skip
    return evaluate_with_ranks(model, train_long, pairs, test_long, config)[0]


@pytest.mark.slow
def test_train_and_test_files_get_their_published_protocol_by_default(project):
    rng = np.random.default_rng(7)
    train = walks(rng, 600, 1_600_000_000, 0.0)
    test = walks(rng, 150, 1_700_000_000, 0.2)
    folder = project / "data/01_raw/mine"
    folder.mkdir(parents=True)
    train.to_csv(folder / "train.tsv", sep="\t", index=False)
    test.to_csv(folder / "test.tsv", sep="\t", index=False)
    catalog = project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text().replace("_sources:\n", "_sources:\n" + ENTRY, 1))

    result = run_in_process(
        project, "run", "--pipelines=baseline", "--namespaces=markov", "--params=dataset=mine"
    )
    assert result.exit_code == 0, result.output[-3000:]
    assert "evaluation.exclude_query = true: 0 of " in result.log
    metrics = pd.read_parquet(
        latest_version(project / "data/07_model_output/mine/markov_metrics.parquet")
    )
    assert set(metrics["protocol"]) == {"iterative_revealing"}
    assert set(metrics["context"]) == {"session"}
    assert metrics["exclude_query"].all() and set(metrics["unknown_targets"]) == {"drop"}
    expected = reference(train.astype({"ItemId": str}), test.astype({"ItemId": str}), "markov")
    for metric in ("recall", "mrr"):
        ours = metrics[(metrics["metric"] == metric) & (metrics["k"] == 20)]
        theirs = expected[(expected["metric"] == metric) & (expected["k"] == 20)]
        assert int(ours["n_queries"].iloc[0]) == int(theirs["n_queries"].iloc[0])
        assert float(ours["value"].iloc[0]) == pytest.approx(float(theirs["value"].iloc[0]))
    options = json.loads(metrics["model_options"].iloc[0])
    assert options["context_window"] == 1
