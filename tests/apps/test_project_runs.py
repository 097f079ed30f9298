"""`kedro run` end to end through the project CLI: demo data, FF19 parity, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from session_recs.data.sessionize import sessions_as_lists

from ..conftest import latest_version, run_cli, shared_file

pytestmark = pytest.mark.slow  # every test runs the CLI in a subprocess

DATA_PIPELINES = "--pipelines=ingest,sessionize,split"
SPLIT_OUTPUTS = ("train_sessions", "validation_pairs", "test_pairs", "test_sessions")


def artifact(project: Path, layer: str, dataset: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(latest_version(project / "data" / layer / dataset / f"{name}.parquet"))


def snapshot(project: Path) -> dict[str, str]:
    """Content hash of every saved artifact, by relative path."""
    return {
        str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((project / "data").rglob("*.parquet"))
        if p.is_file() and "01_raw" not in p.parts
    }


def test_demo_data_layer_runs_and_versions_its_artifacts(project):
    result = run_cli(project, "run", DATA_PIPELINES)
    assert result.returncode == 0, result.stderr[-3000:]
    # Kedro's own register_new_resolver deprecation is filtered in settings.py.
    assert "register_new_resolver" not in result.stdout + result.stderr
    assert "Ingested 60,000 interactions" in result.stdout + result.stderr
    sessions = artifact(project, "03_primary", "demo", "sessions")
    assert list(sessions.columns[:3]) == ["session_id", "position", "item_id"]
    assert sessions.groupby("session_id").size().min() >= 3
    test_pairs = artifact(project, "05_model_input", "demo", "test_pairs")
    validation_pairs = artifact(project, "05_model_input", "demo", "validation_pairs")
    assert len(test_pairs) == len(validation_pairs) == 150
    assert not set(test_pairs.session_id) & set(validation_pairs.session_id)
    first = snapshot(project)

    # A second run adds versions and leaves the first run's files untouched.
    assert run_cli(project, "run", DATA_PIPELINES).returncode == 0
    second = snapshot(project)
    assert all(second[path] == digest for path, digest in first.items())
    assert len(second) == 2 * len(first)


@pytest.mark.real_data
def test_online_retail_matches_ff19_sessions_and_split(project):
    shutil.copy(shared_file("online_retail.parquet"), project / "data/01_raw/online_retail.parquet")
    result = run_cli(project, "run", DATA_PIPELINES, "--params=dataset=online_retail")
    assert result.returncode == 0, result.stderr[-3000:]

    sessions = artifact(project, "03_primary", "online_retail", "sessions")
    lists = sessions_as_lists(sessions)
    assert len(lists) == 4234
    assert len(sessions) == 406_632
    assert sessions["item_id"].nunique() == 3684
    digest = hashlib.sha256(json.dumps(lists).encode()).hexdigest()
    assert digest == "68e97dabab9db689b46d521f811ae00885629b1a9ad28571718beb65a5320e77"

    index = np.random.default_rng(123).choice(range(len(lists)), 2000, replace=False)
    for name, chosen in (("test_pairs", index[:1000]), ("validation_pairs", index[1000:])):
        pairs = artifact(project, "05_model_input", "online_retail", name)
        assert pairs["session_id"].tolist() == chosen.tolist()
        expected = [(lists[i][-2], lists[i][-1]) for i in chosen]
        assert list(zip(pairs.query_item, pairs.target_item, strict=True)) == expected
    train = artifact(project, "05_model_input", "online_retail", "train_sessions")
    assert len(train) == 406_632 - 4234


def assert_user_error(result, *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output[-3000:]
    for fragment in fragments:
        assert fragment in output, output[-3000:]


def write_retail(project: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(project / "data/01_raw/online_retail.parquet")


def demo_frame(project: Path) -> pd.DataFrame:
    return pd.read_parquet(project / "data/01_raw/demo_online_retail.parquet")


def test_bad_input_gets_a_clear_message_and_keeps_saved_versions(project):
    assert run_cli(project, "run", DATA_PIPELINES).returncode == 0
    before = snapshot(project)

    assert_user_error(
        run_cli(project, "run", DATA_PIPELINES, "--params=dataset=no_such_data"),
        "Unknown dataset 'no_such_data'",
        "online_retail",
    )
    assert_user_error(
        run_cli(project, "run", DATA_PIPELINES, "--params=split.test_size=5000"),
        "split.test_size=5,000 is too large",
    )
    assert_user_error(
        run_cli(project, "run", DATA_PIPELINES, "--params=sessionize.min_session_length=100000"),
        "No session is left",
    )
    assert_user_error(
        run_cli(project, "run", DATA_PIPELINES, "--params=sessionize.strategy=weekly"),
        "sessionize.strategy = 'weekly': expected 'customer', 'invoice' or 'time_gap'",
    )
    after = snapshot(project)
    assert all(after.get(path) == digest for path, digest in before.items())


@pytest.mark.parametrize(
    ("make_file", "fragments"),
    [
        (
            lambda project: write_retail(project, demo_frame(project).drop(columns=["StockCode"])),
            ("StockCode", "online_retail.parquet"),
        ),
        (
            lambda project: write_retail(project, demo_frame(project).iloc[:0]),
            ("empty", "online_retail.parquet"),
        ),
        (
            lambda project: (project / "data/01_raw/online_retail.parquet").write_text(
                "InvoiceNo,StockCode\n1,2\n"
            ),
            ("online_retail.parquet", "Parquet"),
        ),
        (lambda project: None, ("not found", "online_retail.parquet")),
    ],
    ids=["missing-column", "empty-table", "not-parquet", "missing-file"],
)
def test_bad_raw_files_are_named_in_the_error(project, make_file, fragments):
    make_file(project)
    result = run_cli(project, "run", "--pipelines=ingest", "--params=dataset=online_retail")
    assert_user_error(result, *fragments)
    assert not (project / "data/02_intermediate/online_retail").exists()


def test_malformed_aotm_line_is_reported_with_its_line_number(project):
    (project / "data/01_raw/aotm_list_ids.txt").write_text(
        "#1# 10:100 11:101 12:102\n#2# 10:100 this-is-not-a-track\n"
    )
    result = run_cli(project, "run", "--pipelines=ingest", "--params=dataset=aotm")
    assert_user_error(result, "aotm_list_ids.txt", "line 2")
