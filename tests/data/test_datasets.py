"""The raw-source Kedro datasets, alone and built from catalog config."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError

from session_recs.cli import user_error
from session_recs.data.datasets import (
    AotmDataset,
    InteractionsTableDataset,
    OnlineRetailDataset,
    PredefinedSplitDataset,
    RecSys15ClicksDataset,
)
from session_recs.errors import ConfigError, DataValidationError

from .conftest import (
    AOTM_TEXT,
    CLICKS_TEXT,
    aotm_frame,
    clicks_frame,
    retail_frame,
    rsc15_test,
    rsc15_train,
    write_retail_xlsx,
)

TABLE = "session_recs.data.datasets.InteractionsTableDataset"


def split_config(train, test) -> dict:
    """A PredefinedSplitDataset entry as it appears in catalog.yml."""
    return {
        "type": "session_recs.data.datasets.PredefinedSplitDataset",
        "train": {"type": TABLE, "filepath": str(train)},
        "test": {"type": TABLE, "filepath": str(test)},
    }


def test_file_datasets_load_their_source(tmp_path):
    (tmp_path / "clicks.dat").write_text(CLICKS_TEXT, encoding="utf-8")
    (tmp_path / "aotm.txt").write_text(AOTM_TEXT, encoding="utf-8")
    write_retail_xlsx(retail_frame(), tmp_path / "Online Retail.xlsx")
    datasets = [
        (OnlineRetailDataset(str(tmp_path / "Online Retail.xlsx")), retail_frame()),
        (RecSys15ClicksDataset(str(tmp_path / "clicks.dat")), clicks_frame()),
        (AotmDataset(str(tmp_path / "aotm.txt")), aotm_frame()),
    ]
    for dataset, expected in datasets:
        assert dataset.exists()
        pd.testing.assert_frame_equal(dataset.load(), expected)


def test_catalog_builds_the_datasets_from_config(tmp_path):
    retail_frame().to_parquet(tmp_path / "online_retail.parquet")
    catalog = DataCatalog.from_config(
        {
            "raw": {
                "type": "session_recs.data.datasets.OnlineRetailDataset",
                "filepath": str(tmp_path / "online_retail.parquet"),
                "metadata": {"kedro-viz": {"layer": "raw"}},
            }
        }
    )
    pd.testing.assert_frame_equal(catalog.load("raw"), retail_frame())
    assert catalog["raw"].metadata == {"kedro-viz": {"layer": "raw"}}


def test_describe_names_the_file(tmp_path):
    dataset = InteractionsTableDataset(str(tmp_path / "t.tsv"), load_args={"sep": "\t"})
    text = str(dataset)
    assert "InteractionsTableDataset" in text and "t.tsv" in text and "sep" in text
    assert "online_retail.parquet" in str(OnlineRetailDataset("data/online_retail.parquet"))


def test_datasets_are_read_only(tmp_path):
    for dataset in (
        OnlineRetailDataset(str(tmp_path / "x.parquet")),
        PredefinedSplitDataset(
            train={"type": TABLE, "filepath": "a.tsv"}, test={"type": TABLE, "filepath": "b.tsv"}
        ),
    ):
        with pytest.raises(DatasetError, match="read-only"):
            dataset.save(retail_frame())
    assert not (tmp_path / "x.parquet").exists()


def test_missing_file_surfaces_the_user_error(tmp_path):
    dataset = AotmDataset(str(tmp_path / "aotm_list_ids.txt"))
    assert not dataset.exists()
    with pytest.raises(DatasetError) as excinfo:
        dataset.load()
    # Kedro wraps it; the CLI finds the DataValidationError behind and prints only that.
    error = user_error(excinfo.value)
    assert isinstance(error, DataValidationError)
    assert str(error) == f"Art of the Mix file not found: {tmp_path / 'aotm_list_ids.txt'}"


def test_interactions_dataset_passes_load_args(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("item|name\n1|CAFÉ\n".encode("latin-1"))
    dataset = InteractionsTableDataset(str(path), load_args={"sep": "|", "encoding": "ISO-8859-1"})
    assert dataset.load().to_dict("list") == {"item": [1], "name": ["CAFÉ"]}


def test_interactions_dataset_rejects_unknown_load_args(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown load_args \['header'\]; allowed"):
        InteractionsTableDataset(str(tmp_path / "t.csv"), load_args={"header": None})


def test_remote_paths_are_a_config_error():
    with pytest.raises(ConfigError, match=r"local files only.*s3://"):
        RecSys15ClicksDataset("s3://bucket/yoochoose-clicks.dat")


def test_predefined_split_stacks_train_then_test(tmp_path):
    catalog = DataCatalog.from_config(
        {
            "rsc15": split_config(
                rsc15_train(tmp_path / "train.tsv"), rsc15_test(tmp_path / "test.tsv")
            )
        }
    )

    table = catalog.load("rsc15")

    assert table.columns.tolist() == ["SessionId", "ItemId", "Time", "split"]
    assert table.dtypes.astype(str).tolist() == ["int64", "int64", "float64", "str"]
    assert table["split"].tolist() == ["train"] * 3 + ["test"] * 2
    assert table["SessionId"].tolist() == [3, 3, 9, 11, 11]
    assert table["Time"].tolist()[3:] == [1396483200.0, 1396483260.5]
    assert table.index.tolist() == [0, 1, 2, 3, 4]
    assert catalog["rsc15"].exists()


def test_predefined_split_needs_both_files(tmp_path):
    config = split_config(rsc15_train(tmp_path / "a.tsv"), tmp_path / "b.tsv")
    dataset = PredefinedSplitDataset(train=config["train"], test=config["test"])
    assert not dataset.exists()
    with pytest.raises(DatasetError) as excinfo:
        dataset.load()
    assert "Interactions table file not found" in str(user_error(excinfo.value))
    assert "b.tsv" in str(user_error(excinfo.value))


def test_predefined_split_columns_must_match(tmp_path):
    train = rsc15_train(tmp_path / "train.tsv")
    test = tmp_path / "test.csv"
    test.write_text("SessionId,ItemId\n1,2\n", encoding="utf-8")
    config = split_config(train, test)
    dataset = PredefinedSplitDataset(train=config["train"], test=config["test"])
    with pytest.raises(DatasetError) as excinfo:
        dataset.load()
    message = str(user_error(excinfo.value))
    assert "different columns" in message
    assert (
        "train ['SessionId', 'ItemId', 'Time']" in message
        and "test ['SessionId', 'ItemId']" in message
    )


def test_predefined_split_refuses_its_own_column(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("SessionId\tsplit\n1\tx\n", encoding="utf-8")
    config = split_config(train, train)
    with pytest.raises(DatasetError) as excinfo:
        PredefinedSplitDataset(train=config["train"], test=config["test"]).load()
    assert "already have a 'split' column" in str(user_error(excinfo.value))


@pytest.mark.parametrize(
    ("train", "match"),
    [
        ("train.tsv", "'train' must be a dataset config with a 'type'"),
        ({"filepath": "train.tsv"}, "'train' must be a dataset config with a 'type'"),
        ({"type": "NoSuchDataset", "filepath": "x"}, "invalid 'train' dataset"),
    ],
)
def test_predefined_split_bad_config(train, match):
    with pytest.raises(ConfigError, match=match):
        PredefinedSplitDataset(train=train, test={"type": TABLE, "filepath": "test.tsv"})
