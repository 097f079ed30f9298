"""interactions → sessions, sessionize_log, item_catalog, run with SequentialRunner on a
table built in the test."""

import pytest

from session_recs.data.sessionize import SessionizeConfig
from session_recs.pipelines import sessionize

from ..conftest import run_pipeline


@pytest.fixture(scope="module")
def outputs(parameters, raw_interactions) -> dict:
    """sessionize run on the ingested :func:`raw_retail` table (12 customers, customer c
    buying items c, ..., c+3 (mod 20), and one guest row)."""
    params = {**parameters, "sessionize": {"min_session_length": 3}}
    return run_pipeline(sessionize.create_pipeline(), params, interactions=raw_interactions)


def test_one_session_per_customer_in_order_without_the_guest_row(outputs):
    sessions = outputs["sessions"]
    assert sessions["session_id"].nunique() == 12  # the guest row is dropped
    assert sessions.loc[sessions.session_id == 5, "item_id"].tolist() == [
        "00005",
        "00006",
        "00007",
        "00008",
    ]
    assert len(sessions) == 48


def test_the_item_catalog_counts_every_kept_event(outputs):
    catalog_items = outputs["item_catalog"]
    assert catalog_items["n_events"].sum() == 48
    assert len(catalog_items) == 15  # items 00000 ... 00014


def test_its_nodes_have_verb_names_and_defaults_are_valid():
    nodes = sessionize.create_pipeline().nodes
    assert {node.name for node in nodes} == {"sessionize_interactions", "build_item_catalog"}
    assert all("data" in node.tags for node in nodes)
    SessionizeConfig.model_validate({})
