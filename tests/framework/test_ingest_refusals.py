"""Entries and files that would mix ids or times are refused by `kedro run` in one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ..conftest import copy_project, run_in_process

#: Commands run end to end as a user runs them (in process): the slow layer.
pytestmark = pytest.mark.slow

SOURCES = """\
  one_column_twice:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ids.csv
    columns: {session_key: s, item_id: s}
  same_train_test:
    type: session_recs.framework.datasets.InteractionsDataset
    train: data/01_raw/ids.csv
    test: ./data/01_raw/ids.csv
    columns: {session_key: s, item_id: i}
  empty_times:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ids.csv
    columns: {session_key: s, item_id: i, timestamp: t}
  list_items:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/typed.parquet
    columns: {session_key: s, item_id: baskets}
  fractional_keys:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/typed.parquet
    columns: {session_key: price, item_id: s}
"""

CASES = [
    ("one_column_twice", "'columns' maps session_key and item_id to the same column 's'"),
    ("same_train_test", "'train' and 'test' are the same file ({raw}/ids.csv)"),
    (
        "empty_times",
        "Column 't' (timestamp) of {raw}/ids.csv has no value in any of its 4 rows; "
        "remove timestamp from the entry's columns",
    ),
    (
        "list_items",
        "Column 'baskets' (item_id) of {raw}/typed.parquet holds lists or dicts",
    ),
    (
        "fractional_keys",
        "Column 'price' (session_key) of {raw}/typed.parquet holds numbers that are not "
        "whole (2 value(s), e.g. 2.5)",
    ),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("ingest_refusals") / "project")
    raw = project / "data" / "01_raw"
    (raw / "ids.csv").write_text("s,i,t\n1,0123,\n1,123,\n2,0123,\n2,123.0,\n")
    pd.DataFrame(
        {"s": [1, 1, 2], "baskets": [[1, 2], [3], [4]], "price": [2.5, 1.0, 3.5]}
    ).to_parquet(raw / "typed.parquet")
    catalog = project / "conf" / "base" / "catalog.yml"
    catalog.write_text(catalog.read_text().replace("_sources:\n", "_sources:\n" + SOURCES, 1))
    return project


@pytest.mark.parametrize(("dataset", "fragment"), CASES, ids=[name for name, _ in CASES])
def test_ingest_refuses_in_one_line(project, dataset, fragment):
    result = run_in_process(project, "run", "--pipelines=ingest", f"--params=dataset={dataset}")
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    assert len(result.error_lines) == 1, result.output[-3000:]
    # Kedro hands the dataset its path joined to the project's folder.
    expected = fragment.format(raw=project / "data" / "01_raw")
    assert expected in result.error_lines[0], result.error_lines[0]
