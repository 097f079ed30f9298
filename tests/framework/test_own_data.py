"""Your own data in one catalog entry: docs/datasets.md's entries (the README links it),
one per shape, run as written.

Each entry of docs/datasets.md's "Your own data" YAML block is added to a fresh project's
catalog as it stands (nothing else changes), a file of that shape is written where the
entry points, and the data pipelines run. The inferred choices must be the right ones.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ..conftest import ROOT, latest_version, run_in_process

#: Commands run end to end as a user runs them (in process): the slow layer.
pytestmark = pytest.mark.slow

#: The page that lists one catalog entry per shape of data (the README links it).
DATASETS_PAGE = (ROOT / "docs" / "datasets.md").read_text()


def readme_entries() -> dict[str, dict]:
    """The catalog entries of docs/datasets.md's "Your own data" block, by name."""
    section = DATASETS_PAGE[DATASETS_PAGE.index("**Your own data.**") :]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    return yaml.safe_load(textwrap.dedent(block))


ENTRIES = readme_entries()


def entry_lines(name: str) -> int:
    """Lines of configuration the page's entry for ``name`` takes."""
    block = yaml.safe_dump({name: ENTRIES[name]}, default_flow_style=None, sort_keys=False)
    return len(block.strip().splitlines())


def clicks(n_sessions: int, seed: int = 0, lengths=(3, 8)) -> pd.DataFrame:
    """Sessions of 3-7 clicks over 30 items, one minute apart, sessions a day apart."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(*lengths, size=n_sessions)
    session = np.repeat(np.arange(n_sessions), sizes)
    step = np.arange(len(session)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(session, unit="D")
    return pd.DataFrame(
        {
            "session": session,
            "item": [f"i{i}" for i in rng.integers(0, 30, size=len(session))],
            "time": start + pd.to_timedelta(step, unit="min"),
            "step": step,
        }
    )


def add_source(project: Path, name: str) -> dict:
    """The page's entry for ``name``, added to the project's catalog as written."""
    catalog_file = project / "conf" / "base" / "catalog.yml"
    text = catalog_file.read_text()
    entry = yaml.safe_dump({name: ENTRIES[name]}, sort_keys=False)
    text = text.replace("_sources:\n", "_sources:\n" + textwrap.indent(entry, "  "), 1)
    catalog_file.write_text(text)
    return ENTRIES[name]


def outputs(project: Path, name: str) -> dict[str, pd.DataFrame]:
    folder = project / "data"
    return {
        "sessions": pd.read_parquet(latest_version(folder / f"03_primary/{name}/sessions.parquet")),
        **{
            part: pd.read_parquet(latest_version(folder / f"05_model_input/{name}/{part}.parquet"))
            for part in ("train_sessions", "validation_pairs", "test_pairs", "test_sessions")
        },
    }


def run_split(project: Path, name: str, *params: str):
    result = run_in_process(
        project, "run", "--pipelines=split", f"--params={','.join([f'dataset={name}', *params])}"
    )
    assert result.exception is None, result.output[-3000:]
    assert result.exit_code == 0, result.output[-3000:]
    return result


def test_the_readme_has_one_short_entry_per_shape():
    assert set(ENTRIES) == {
        "my_clicks",
        "my_baskets",
        "my_train_test",
        "my_playlists",
        "my_events",
        "my_small_log",
    }
    assert max(entry_lines(name) for name in ENTRIES) <= 10


def test_a_semicolon_separated_csv_with_dates_is_split_in_time(project):
    entry = add_source(project, "my_clicks")
    frame = clicks(200).rename(columns={"session": "visitor", "item": "product"})
    # Rows shuffled: the clicks must come back in time order.
    frame.sample(frac=1, random_state=1).drop(columns="step").to_csv(
        project / entry["filepath"], sep=";", index=False
    )
    result = run_split(project, "my_clicks")
    assert "sessionize.order = time (the source has timestamps)" in result.log
    assert "split.strategy = temporal" in result.log
    out = outputs(project, "my_clicks")
    assert out["sessions"]["session_id"].nunique() == 200
    ordered = out["sessions"].groupby("session_id")["timestamp"].is_monotonic_increasing
    assert ordered.all()
    # temporal: the latest 10% of sessions are test, and none of them is in training
    test_ids = set(out["test_pairs"]["session_id"])
    assert len(test_ids) == 20
    assert not test_ids & set(out["train_sessions"]["session_id"])


def test_a_tab_separated_file_named_csv_gets_the_random_split(project):
    entry = add_source(project, "my_baskets")
    frame = clicks(400)[["session", "item"]].rename(columns={"session": "basket", "item": "sku"})
    frame.to_csv(project / entry["filepath"], sep="\t", index=False)
    result = run_split(project, "my_baskets")
    assert "sessionize.order = file (the source has no timestamps)" in result.log
    assert "split.strategy = ff19 (the source has no timestamps)" in result.log
    out = outputs(project, "my_baskets")
    assert len(out["test_pairs"]) == len(out["validation_pairs"]) == 100  # 400 // 4
    # An explicit value wins over what the source suggests, and says so.
    explicit = run_split(project, "my_baskets", "split.strategy=ff19", "split.test_size=50")
    assert "split.strategy = ff19 (set explicitly in --params)" in explicit.log
    assert len(outputs(project, "my_baskets")["test_pairs"]) == 50
    first = out["sessions"][out["sessions"]["session_id"] == 0]["item_id"].tolist()
    assert first == frame[frame["basket"] == 0]["sku"].tolist()  # file order


def test_train_and_test_files_keep_every_test_session_out_of_training(project):
    entry = add_source(project, "my_train_test")
    frame = clicks(300).rename(columns={"session": "SessionId", "item": "ItemId"})
    frame["Time"] = frame.pop("time").astype("int64") // 10**9  # epoch seconds
    train = frame[frame["SessionId"] < 240].drop(columns="step")
    test = frame[frame["SessionId"] >= 240].drop(columns="step")
    train.to_csv(project / entry["train"], sep="\t", index=False)
    test.sample(frac=1, random_state=3).to_csv(project / entry["test"], sep="\t", index=False)
    result = run_split(project, "my_train_test")
    for line in (
        "split.strategy = predefined (the source comes as train and test files)",
        "evaluation.protocols = ['iterative_revealing']",
        "evaluation.contexts = ['session']",
        "report.k = 20",
    ):
        assert line in result.log
    out = outputs(project, "my_train_test")
    assert out["test_sessions"]["session_id"].nunique() == 60
    assert not set(out["test_sessions"]["session_id"]) & set(out["train_sessions"]["session_id"])
    # the unsorted test file comes back in time order, session by session
    ordered = out["test_sessions"].groupby("session_id")["timestamp"].is_monotonic_increasing
    assert ordered.all()
    assert len(out["test_sessions"]) == len(test)


def test_an_order_column_orders_clicks_and_the_date_splits(project):
    entry = add_source(project, "my_playlists")
    frame = clicks(200)
    # One date per playlist, clicks ordered by `seq` only; rows shuffled.
    playlists = pd.DataFrame(
        {
            "playlist": frame["session"],
            "track": frame["item"],
            "date": frame["time"].dt.normalize(),
            "seq": frame["step"],
        }
    ).sample(frac=1, random_state=2)
    playlists.to_parquet(project / entry["filepath"])
    result = run_split(project, "my_playlists")
    assert "sessionize.order = column (the source maps an order column)" in result.log
    assert "split.strategy = temporal (the source has timestamps)" in result.log
    sessions = outputs(project, "my_playlists")["sessions"]
    expected = frame.groupby("session")["item"].apply(list).tolist()
    got = sessions.groupby("session_id")["item_id"].apply(list).tolist()
    assert got == expected  # the seq order, whatever the file order


def test_millisecond_epochs_are_inferred(project):
    entry = add_source(project, "my_events")
    frame = clicks(120).rename(columns={"session": "session"})
    frame["ts_ms"] = frame.pop("time").astype("int64") // 10**6
    frame.drop(columns="step").to_csv(project / entry["filepath"], index=False)
    run_split(project, "my_events")
    sessions = outputs(project, "my_events")["sessions"]
    assert str(sessions["timestamp"].min()) == "2024-01-01 00:00:00"


def test_a_table_too_small_for_1000_test_sessions_still_splits(project):
    entry = add_source(project, "my_small_log")
    frame = clicks(350, lengths=(4, 8)).rename(columns={"session": "user"})[["user", "item"]]
    frame = frame.iloc[:2000]
    frame.to_csv(project / entry["filepath"], index=False)
    result = run_split(project, "my_small_log")
    n = frame["user"].nunique()
    assert f"split.test_size = {n // 4} (auto" in result.log
    assert len(outputs(project, "my_small_log")["test_pairs"]) == n // 4
    # An explicit size that does not fit names the parameter to set.
    too_big = run_in_process(
        project, "run", "--pipelines=split", "--params=dataset=my_small_log,split.test_size=1000"
    )
    assert too_big.exit_code == 1 and too_big.exception is None
    assert "split.test_size=1,000 is too large" in too_big.error_lines[0]
    assert "--params=split.test_size=N" in too_big.error_lines[0]
