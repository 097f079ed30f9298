"""The raw-source Kedro datasets: each reads its file(s) and maps them onto the schema."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError

from session_recs.apps.user_errors import user_error
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.defaults import SourceShape
from session_recs.data.interactions import to_interactions
from session_recs.framework.datasets import (
    AotmDataset,
    InteractionsDataset,
    OnlineRetailDataset,
    RecSys15ClicksDataset,
)

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

RSC15_COLUMNS = {"session_key": "SessionId", "item_id": "ItemId", "timestamp": "Time"}


def test_file_datasets_load_their_source_as_interactions(tmp_path):
    (tmp_path / "clicks.dat").write_text(CLICKS_TEXT, encoding="utf-8")
    (tmp_path / "aotm.txt").write_text(AOTM_TEXT, encoding="utf-8")
    write_retail_xlsx(retail_frame(), tmp_path / "Online Retail.xlsx")
    datasets = [
        (OnlineRetailDataset(str(tmp_path / "Online Retail.xlsx")), retail_frame()),
        (RecSys15ClicksDataset(str(tmp_path / "clicks.dat")), clicks_frame()),
        (AotmDataset(str(tmp_path / "aotm.txt")), aotm_frame()),
    ]
    for dataset, raw in datasets:
        assert dataset.exists()
        expected = to_interactions(raw, type(dataset).COLUMNS)
        pd.testing.assert_frame_equal(dataset.load(), expected)
    retail = datasets[0][0].load()
    assert retail.columns.tolist() == [
        "session_key",
        "item_id",
        "timestamp",
        "invoice",
        "quantity",
        "description",
    ]
    assert retail["item_id"].tolist()[:2] == ["85123A", "71053"]


def test_catalog_builds_the_datasets_from_config(tmp_path):
    retail_frame().to_parquet(tmp_path / "online_retail.parquet")
    catalog = DataCatalog.from_config(
        {
            "raw": {
                "type": "session_recs.framework.datasets.OnlineRetailDataset",
                "filepath": str(tmp_path / "online_retail.parquet"),
                "metadata": {"kedro-viz": {"layer": "raw"}},
            }
        }
    )
    assert catalog.load("raw")["session_key"].tolist()[:2] == [17850, 17850]
    assert catalog["raw"].metadata == {"kedro-viz": {"layer": "raw"}}


def test_a_known_format_takes_other_columns_when_asked(tmp_path):
    (tmp_path / "aotm.txt").write_text(AOTM_TEXT, encoding="utf-8")
    # Artists as items instead of songs.
    dataset = AotmDataset(
        str(tmp_path / "aotm.txt"), columns={"session_key": "PlaylistId", "item_id": "ArtistId"}
    )
    assert dataset.load()["item_id"].tolist()[:3] == ["12", "13", "12"]


def test_describe_names_the_files(tmp_path):
    dataset = InteractionsDataset(
        str(tmp_path / "t.tsv"), columns=RSC15_COLUMNS, load_args={"sep": "\t"}
    )
    text = str(dataset)
    assert "InteractionsDataset" in text and "t.tsv" in text and "sep" in text
    assert "online_retail.parquet" in str(OnlineRetailDataset("data/online_retail.parquet"))
    pair = InteractionsDataset(train="a.tsv", test="b.tsv", columns=RSC15_COLUMNS)
    assert "a.tsv" in str(pair) and "b.tsv" in str(pair)


def test_datasets_are_read_only(tmp_path):
    for dataset in (
        OnlineRetailDataset(str(tmp_path / "x.parquet")),
        InteractionsDataset(train="a.tsv", test="b.tsv", columns=RSC15_COLUMNS),
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


def test_load_args_override_what_is_sniffed(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("user|item\n1|CAFÉ\n1|THÉ\n".encode("latin-1"))
    columns = {"session_key": "user", "item_id": "item"}
    dataset = InteractionsDataset(
        str(path), columns=columns, load_args={"sep": "|", "encoding": "ISO-8859-1"}
    )
    assert dataset.load()["item_id"].tolist() == ["CAFÉ", "THÉ"]
    assert InteractionsDataset(str(path), columns=columns).load()["item_id"].tolist() == [
        "CAFÉ",
        "THÉ",
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"load_args": {"header": None}}, r"unknown load_args \['header'\]; allowed"),
        ({"format": "docx"}, r"format must be one of \['csv', 'parquet', 'xlsx'\]"),
        ({"timestamp_unit": "minutes"}, r"timestamp_unit must be one of"),
        ({"columns": None}, r"the entry needs 'columns'"),
        ({"columns": ["user", "item"]}, r"'columns' must map interaction fields"),
        ({"train": "a.tsv"}, r"either 'filepath' or 'train' and 'test', not both"),
    ],
)
def test_bad_entries_are_config_errors(tmp_path, kwargs, match):
    entry = {"filepath": str(tmp_path / "t.csv"), "columns": RSC15_COLUMNS, **kwargs}
    with pytest.raises(ConfigError, match=match):
        InteractionsDataset(**entry)


def test_a_train_test_pair_needs_both_files():
    with pytest.raises(ConfigError, match="'test' is missing"):
        InteractionsDataset(train="a.tsv", columns=RSC15_COLUMNS)


def test_remote_paths_are_a_config_error():
    with pytest.raises(ConfigError, match=r"local files only.*s3://"):
        RecSys15ClicksDataset("s3://bucket/yoochoose-clicks.dat")


def test_train_and_test_stack_train_first_with_a_split_column(tmp_path):
    catalog = DataCatalog.from_config(
        {
            "rsc15": {
                "type": "session_recs.framework.datasets.InteractionsDataset",
                "train": str(rsc15_train(tmp_path / "train.tsv")),
                "test": {"filepath": str(rsc15_test(tmp_path / "test.tsv"))},
                "columns": RSC15_COLUMNS,
            }
        }
    )

    table = catalog.load("rsc15")

    assert table.columns.tolist() == ["session_key", "item_id", "timestamp", "split"]
    assert table["split"].tolist() == ["train"] * 3 + ["test"] * 2
    # Keys read from text stay text, as written.
    assert table["session_key"].tolist() == ["3", "3", "9", "11", "11"]
    # Second epochs, inferred from their magnitude (1.5 s is 1970, and plausible).
    assert str(table["timestamp"].iloc[3]) == "2014-04-03 00:00:00"
    assert catalog["rsc15"].exists()


def test_a_missing_test_file_is_named(tmp_path):
    dataset = InteractionsDataset(
        train=str(rsc15_train(tmp_path / "a.tsv")),
        test=str(tmp_path / "b.tsv"),
        columns=RSC15_COLUMNS,
    )
    assert not dataset.exists()
    with pytest.raises(DatasetError) as excinfo:
        dataset.load()
    assert "Interactions table file not found" in str(user_error(excinfo.value))
    assert "b.tsv" in str(user_error(excinfo.value))


def test_test_file_with_other_columns_is_named(tmp_path):
    train = rsc15_train(tmp_path / "train.tsv")
    test = tmp_path / "test.csv"
    test.write_text("SessionId,ItemId\n1,2\n", encoding="utf-8")
    dataset = InteractionsDataset(train=str(train), test=str(test), columns=RSC15_COLUMNS)
    with pytest.raises(DatasetError) as excinfo:
        dataset.load()
    message = str(user_error(excinfo.value))
    assert "no column(s) ['Time']" in message and "['SessionId', 'ItemId']" in message


@pytest.mark.parametrize(
    ("entry", "shape"),
    [
        ({"filepath": "x.csv", "columns": {"session_key": "a", "item_id": "b"}}, SourceShape()),
        (
            {"train": "a", "test": "b", "columns": RSC15_COLUMNS},
            SourceShape(predefined_split=True, timestamps=True),
        ),
        (
            {"filepath": "x", "columns": {**RSC15_COLUMNS, "order": "seq"}},
            SourceShape(timestamps=True, order_column=True),
        ),
    ],
)
def test_shape_is_read_from_the_entry_alone(entry, shape):
    assert InteractionsDataset.shape(entry) == shape
    assert OnlineRetailDataset.shape({"filepath": "x"}) == SourceShape(timestamps=True)
    assert AotmDataset.shape({"filepath": "x"}) == SourceShape()
