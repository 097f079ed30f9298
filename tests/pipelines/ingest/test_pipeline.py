"""raw_interactions → interactions, run with SequentialRunner on a table built in the test."""

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from session_recs.core.errors import DataValidationError
from session_recs.pipelines import ingest

from ..conftest import raw_retail, run_pipeline


def test_ingest_keeps_every_row_on_the_schema(parameters, raw_interactions):
    interactions = run_pipeline(
        ingest.create_pipeline(), parameters, raw_interactions=raw_interactions
    )["interactions"]
    assert len(interactions) == 12 * 4 + 1  # the guest row is sessionize's to drop
    assert {"session_key", "item_id", "timestamp"} <= set(interactions.columns)
    assert interactions["item_id"].iloc[:4].tolist() == ["00000", "00001", "00002", "00003"]


def test_its_node_has_a_verb_name_and_the_data_tag():
    nodes = ingest.create_pipeline().nodes
    assert {node.name for node in nodes} == {"ingest_interactions"}
    assert all("data" in node.tags for node in nodes)


def test_a_source_without_the_schema_is_a_clear_error():
    # e.g. a plain pandas.CSVDataset entry: its columns were never mapped.
    catalog = DataCatalog({"raw_interactions": MemoryDataset(raw_retail())})
    with pytest.raises(DataValidationError, match="InteractionsDataset"):
        SequentialRunner().run(ingest.create_pipeline(), catalog)
