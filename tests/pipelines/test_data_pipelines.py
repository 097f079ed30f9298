"""ingest → sessionize → split wired together, run with SequentialRunner on in-memory data."""

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from session_recs.core.errors import DataValidationError
from session_recs.data.interactions import to_interactions
from session_recs.data.sessionize import SessionizeConfig
from session_recs.data.split import SplitConfig
from session_recs.pipelines import ingest, sessionize, split

COLUMNS = {"session_key": "CustomerID", "item_id": "StockCode", "timestamp": "InvoiceDate"}


def raw_retail(n_customers: int = 12) -> pd.DataFrame:
    """Customer c buys items c, c+1, ..., c+3 (mod 20), then customer 99 has a missing id."""
    rows = [(float(c), f"{(c + k) % 20:05d}", k) for c in range(n_customers) for k in range(4)]
    rows.append((np.nan, "00001", 0))
    frame = pd.DataFrame(rows, columns=["CustomerID", "StockCode", "minute"])
    frame["InvoiceDate"] = pd.Timestamp("2011-01-01") + pd.to_timedelta(
        frame.pop("minute"), unit="m"
    )
    return frame


OUTPUTS = (
    "interactions",
    "sessions",
    "item_catalog",
    "train_sessions",
    "validation_pairs",
    "test_pairs",
    "test_sessions",
)
PIPELINE = ingest.create_pipeline() + sessionize.create_pipeline() + split.create_pipeline()


def run_data_layer(
    folder, raw: pd.DataFrame, sessionize_params: dict, split_params: dict
) -> DataCatalog:
    """Run the three pipelines; every output goes to Parquet, as in the project catalog."""
    catalog = DataCatalog(
        {
            **{name: ParquetDataset(filepath=str(folder / f"{name}.parquet")) for name in OUTPUTS},
            # What a source's dataset loads: the raw table mapped onto the schema.
            "raw_interactions": MemoryDataset(to_interactions(raw, COLUMNS)),
            "params:sessionize": MemoryDataset(sessionize_params),
            "params:split": MemoryDataset(split_params),
            "params:evaluation.exclude_query": MemoryDataset("auto"),
        }
    )
    SequentialRunner().run(PIPELINE, catalog)
    return catalog


def test_data_layer_end_to_end_on_known_data(tmp_path):
    catalog = run_data_layer(
        tmp_path,
        raw_retail(),
        {"min_session_length": 3},
        {"strategy": "ff19", "test_size": 3, "seed": 123},
    )
    sessions = catalog["sessions"].load()
    assert sessions["session_id"].nunique() == 12  # the guest row is dropped
    assert sessions.loc[sessions.session_id == 5, "item_id"].tolist() == [
        "00005",
        "00006",
        "00007",
        "00008",
    ]
    test_pairs = catalog["test_pairs"].load()
    chosen = np.random.default_rng(123).choice(range(12), 6, replace=False)[:3]
    assert test_pairs["session_id"].tolist() == chosen.tolist()
    # customer c's last pair is (c+2, c+3)
    assert test_pairs["query_item"].tolist() == [f"{(c + 2) % 20:05d}" for c in chosen]
    assert test_pairs["target_item"].tolist() == [f"{(c + 3) % 20:05d}" for c in chosen]
    assert len(catalog["train_sessions"].load()) == 12 * 3
    assert len(catalog["validation_pairs"].load()) == 3
    catalog_items = catalog["item_catalog"].load()
    assert catalog_items["n_events"].sum() == 48
    profile = catalog["dataset_profile"].load()
    assert (profile["events"], profile["sessions"], profile["items"]) == (48, 12, 15)
    assert profile["session_length"]["p50"] == 4.0
    assert profile["test"]["pairs"] == 3 and profile["train"]["events"] == 36


def test_every_node_has_a_verb_name_and_defaults_are_valid():
    assert {node.name for node in PIPELINE.nodes} == {
        "ingest_interactions",
        "sessionize_interactions",
        "build_item_catalog",
        "split_next_event",
        "profile_split_dataset",
    }
    assert all("data" in node.tags for node in PIPELINE.nodes)
    SessionizeConfig.model_validate({})
    SplitConfig.model_validate({})


def test_a_source_without_the_schema_is_a_clear_error():
    # e.g. a plain pandas.CSVDataset entry: its columns were never mapped.
    catalog = DataCatalog({"raw_interactions": MemoryDataset(raw_retail())})
    with pytest.raises(DataValidationError, match="InteractionsDataset"):
        SequentialRunner().run(ingest.create_pipeline(), catalog)
