"""sessions → train/validation/test and the dataset profile; and ingest → sessionize → split
wired together, run with SequentialRunner on data built in the test."""

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from session_recs.data.interactions import to_interactions
from session_recs.data.split import SplitConfig
from session_recs.pipelines import split

from ..conftest import COLUMNS, DATA_LAYER, SPLIT_OUTPUTS, raw_retail

OUTPUTS = ("interactions", "sessions", "item_catalog", *SPLIT_OUTPUTS)


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
    SequentialRunner().run(DATA_LAYER, catalog)
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


def test_the_planted_split_holds_out_one_pair_per_test_session(planted_split):
    # 240 customers of 4 events; 60 test and 60 validation sessions, ff19's last pairs.
    assert len(planted_split["test_pairs"]) == 60
    assert planted_split["test_pairs"]["session_id"].is_unique
    assert len(planted_split["validation_pairs"]) == 60
    assert len(planted_split["test_sessions"]) == 60 * 4
    profile = planted_split["dataset_profile"]
    assert (profile["events"], profile["sessions"], profile["items"]) == (960, 240, 40)
    assert profile["train"]["events"] == 720  # every session's last event is held out
    assert profile["test"]["unseen_target_share"] == 0.0


def test_its_nodes_have_verb_names_and_defaults_are_valid():
    nodes = split.create_pipeline().nodes
    assert {node.name for node in nodes} == {"split_next_event", "profile_split_dataset"}
    assert all("data" in node.tags for node in nodes)
    SplitConfig.model_validate({})
