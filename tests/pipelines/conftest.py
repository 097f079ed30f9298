"""Pipelines run in process, as Kedro's own tests run them: ``SequentialRunner`` on a
``DataCatalog`` of data built in the test, with the parameters the project's config
loader reads from ``conf/base``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from session_recs.data.interactions import to_interactions
from session_recs.framework.config_loader import ProjectConfigLoader
from session_recs.pipelines import ingest, sessionize, split
from session_recs.settings import CONFIG_LOADER_ARGS

from ..conftest import ROOT

COLUMNS = {"session_key": "CustomerID", "item_id": "StockCode", "timestamp": "InvoiceDate"}
DATA_LAYER = ingest.create_pipeline() + sessionize.create_pipeline() + split.create_pipeline()
#: The split's outputs every model pipeline reads.
SPLIT_OUTPUTS = ("train_sessions", "validation_pairs", "test_pairs", "test_sessions")
#: Planted data: GROUPS groups of GROUP_SIZE items, each customer buys one group in order.
GROUPS, GROUP_SIZE, CUSTOMERS = 8, 5, 240


def raw_retail(n_customers: int = 12) -> pd.DataFrame:
    """Customer c buys items c, c+1, ..., c+3 (mod 20), then customer 99 has a missing id."""
    rows = [(float(c), f"{(c + k) % 20:05d}", k) for c in range(n_customers) for k in range(4)]
    rows.append((np.nan, "00001", 0))
    return _retail(rows)


def planted_retail(n_customers: int = CUSTOMERS) -> pd.DataFrame:
    """Customer c buys 4 of the GROUP_SIZE items of group c % GROUPS, one a minute, in the
    group's cyclic order from an offset that varies by customer: an item is always followed
    by the next one of its group (what a sequence model must find)."""
    rows = []
    for c in range(n_customers):
        group, offset = c % GROUPS, (c // GROUPS) % GROUP_SIZE
        for k in range(4):
            rows.append((float(c), f"{group * 100 + (offset + k) % GROUP_SIZE:05d}", k))
    return _retail(rows)


def _retail(rows: list[tuple[float, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["CustomerID", "StockCode", "minute"])
    frame["InvoiceDate"] = pd.Timestamp("2011-01-01") + pd.to_timedelta(
        frame.pop("minute"), unit="m"
    )
    return frame


def parameter_datasets(parameters: dict[str, Any]) -> dict[str, MemoryDataset]:
    """``params:<key>`` and ``params:<key>.<sub key>`` datasets, as a Kedro session feeds
    them to the catalog."""
    feed: dict[str, Any] = {"parameters": parameters}

    def add(key: str, value: Any) -> None:
        feed[f"params:{key}"] = value
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                add(f"{key}.{sub_key}", sub_value)

    for key, value in parameters.items():
        add(key, value)
    return {name: MemoryDataset(value) for name, value in feed.items()}


class KeptDataset(MemoryDataset):
    """A ``MemoryDataset`` that keeps its data after the last node reading it has run (the
    runner releases the others), so a test can read every dataset of the run."""

    def _release(self) -> None:
        pass


def run_pipeline(pipeline: Pipeline, parameters: dict[str, Any], **data: Any) -> dict[str, Any]:
    """Run ``pipeline`` with ``SequentialRunner`` on ``data`` (dataset name → value) and
    ``parameters``; every dataset the run made, by name."""
    made = {
        name: KeptDataset()
        for name in pipeline.datasets()
        if name not in data and not name.startswith("params:") and name != "parameters"
    }
    catalog = DataCatalog(
        {
            **parameter_datasets(parameters),
            **{name: MemoryDataset(value) for name, value in data.items()},
            **made,
        }
    )
    SequentialRunner().run(pipeline, catalog)
    return {name: dataset.load() for name, dataset in made.items()}


@pytest.fixture(scope="session")
def parameters() -> dict[str, Any]:
    """The project's parameters (``conf/base``, the demo dataset), read by its config
    loader with ``auto`` settings decided."""
    loader = ProjectConfigLoader(str(ROOT / "conf"), env="base", **CONFIG_LOADER_ARGS)
    return loader["parameters"]


@pytest.fixture(scope="module")
def raw_interactions() -> pd.DataFrame:
    """What a source's dataset loads: :func:`raw_retail` (12 customers, one guest row)
    mapped onto the schema."""
    return to_interactions(raw_retail(), COLUMNS)


@pytest.fixture(scope="session")
def planted_split(parameters) -> dict[str, Any]:
    """ingest → sessionize → split run on :func:`planted_retail` (60 test sessions)."""
    raw = to_interactions(planted_retail(), COLUMNS)
    params = {**parameters, "split": {**parameters["split"], "test_size": 60}}
    return run_pipeline(DATA_LAYER, params, raw_interactions=raw)


@pytest.fixture(scope="session")
def split_data(planted_split) -> dict[str, pd.DataFrame]:
    """The split tables of :func:`planted_split`, which every model pipeline reads."""
    return {name: planted_split[name] for name in SPLIT_OUTPUTS}


@pytest.fixture(scope="session")
def baseline_outputs(parameters, split_data) -> dict[str, Any]:
    """Every namespace of the baseline pipeline fitted and evaluated on :func:`split_data`."""
    from session_recs.pipelines import baseline

    return run_pipeline(baseline.create_pipeline(), parameters, **split_data)
