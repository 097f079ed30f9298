"""The data pipelines through the catalog's columnar tables write what the pandas catalog
wrote: every table, the sessionize log, the dataset profile and the metrics of models
fitted on the engine's train_sessions table, on the demo and on an
OTTO-shaped log read by the engine itself (the engine taking every table, however
small); small tables stay with pandas by default; the engine's failures are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from session_recs.data.synthetic_logs import LogShape, write_log

from ..conftest import copy_project, latest_version, run_in_process
from ..data.test_streamed import clicks_file

pytestmark = pytest.mark.slow  # two data-layer runs per dataset, in process

TABLES = {
    "02_intermediate": ["interactions"],
    "03_primary": ["sessions", "item_catalog"],
    "05_model_input": ["train_sessions", "validation_pairs", "test_pairs", "test_sessions"],
}
DOCUMENTS = {"03_primary": "sessionize_log", "05_model_input": "dataset_profile"}


def engine_for_any_size(project: Path) -> None:
    """The engine for every table, however small (the catalog leaves small ones to pandas)."""
    settings = project / "conf/base/globals.yml"
    text = settings.read_text()
    assert "min_rows: 2000000" in text
    settings.write_text(text.replace("min_rows: 2000000", "min_rows: 0"))


def pandas_catalog(project: Path) -> None:
    """The catalog as it was before the engine: pandas' Parquet datasets, the sources
    read by pandas."""
    catalog = project / "conf/base/catalog.yml"
    text = catalog.read_text()
    text = text.replace("  <<: *table\n  load_as: table\n", "  <<: *parquet\n")
    text = text.replace("  <<: *table\n", "  <<: *parquet\n")
    text = text.replace("    engine: ${globals:engine}\n", "")
    assert "*table" not in text and "${globals:engine}" not in text.split("_table:")[0]
    catalog.write_text(text)


#: Models fitted after the split: the transition models count on the engine when it loads
#: train_sessions as its table; item_knn reads the table into memory.
MODELS = ("markov", "sequential_rules", "item_knn")
FITS = ("--pipelines=baseline", f"--namespaces={','.join(MODELS)}")
#: What differs between two runs of the same model: the measured speed.
MEASURED = ("predictions_per_s",)


def outputs(project: Path, dataset: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for model in MODELS if dataset != "recsys15" else ():
        path = latest_version(
            project / "data/07_model_output" / dataset / f"{model}_metrics.parquet"
        )
        found[f"{model}.metrics"] = pd.read_parquet(path).drop(columns=list(MEASURED))
    for layer, names in TABLES.items():
        for name in names:
            path = latest_version(project / "data" / layer / dataset / f"{name}.parquet")
            found[name] = pd.read_parquet(path)
    for layer, name in DOCUMENTS.items():
        path = latest_version(project / "data" / layer / dataset / f"{name}.json")
        found[name] = json.loads(path.read_text())
    return found


@pytest.mark.parametrize("dataset", ["demo", "otto_synthetic", "recsys15"])
def test_the_columnar_catalog_writes_what_the_pandas_catalog_wrote(tmp_path, dataset):
    runs = {}
    for engine in ("columnar", "pandas"):
        project = copy_project(tmp_path / engine)
        if dataset == "otto_synthetic":
            shape = LogShape(events=60_000, items=3_000, seed=5)
            write_log(shape, project / "data/01_raw/otto_synthetic.parquet")
        if dataset == "recsys15":  # streamed to Parquet on the engine's side
            clicks_file(project / "data/01_raw/yoochoose-clicks.dat", rows=40_000, seed=5)
        if engine == "pandas":
            pandas_catalog(project)
        else:
            engine_for_any_size(project)
        # The generated clicks file has too few items for metrics at K=20: no fits there.
        fits = (FITS,) if dataset != "recsys15" else ()
        for selected in (("--pipelines=ingest,sessionize,split",), *fits):
            result = run_in_process(project, "run", *selected, f"--params=dataset={dataset}")
            assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
        runs[engine] = outputs(project, dataset)
    columnar, plain = runs["columnar"], runs["pandas"]
    if dataset in ("otto_synthetic", "recsys15"):
        # A source the engine reads keeps its integer keys as a plain integer column; the
        # pandas reader's are nullable (Int64): the same values (docs/scale.md).
        interactions = columnar["interactions"]
        assert interactions["session_key"].dtype == "int64"
        columnar["interactions"] = interactions.astype({"session_key": "Int64"})
    for name, expected in plain.items():
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(columnar[name], expected, obj=name)
        else:
            assert columnar[name] == expected, name
    assert len(plain["sessions"]) > 10_000
    if dataset == "recsys15":
        copies = list((tmp_path / "columnar/data/.spill").glob("recsys15-*.parquet"))
        assert len(copies) == 1  # the engine's run read the streamed copy


def test_a_source_engine_reads_parquet_only_and_says_so(tmp_path):
    project = copy_project(tmp_path / "p")
    engine_for_any_size(project)
    (project / "data/01_raw/otto_synthetic.parquet").write_text("session,aid,ts\n1,2,3\n")
    result = run_in_process(project, "run", "--pipelines=ingest", "--params=dataset=otto_synthetic")
    assert result.exit_code == 1 and result.exception is None, result.output[-3000:]
    (line,) = result.error_lines
    assert "engine reads Parquet files, and this one is not Parquet" in line, line
    assert "otto_synthetic.parquet" in line


def test_a_full_disk_while_spilling_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    """The engine's I/O error for a full disk (ENOSPC from its spill or output file)."""
    import duckdb

    from session_recs.data import columnar

    project = copy_project(tmp_path / "p")
    engine_for_any_size(project)
    assert run_in_process(project, "run", "--pipelines=ingest").exit_code == 0

    def full(*args, **kwargs):
        raise duckdb.IOException('Could not write file "x.tmp": No space left on device')

    monkeypatch.setattr(columnar, "_sessionize", full)
    result = run_in_process(project, "run", "--pipelines=sessionize")
    assert result.exit_code == 1 and result.exception is None, result.output[-3000:]
    (line,) = result.error_lines
    assert "The disk filled up while the columnar engine was sessionizing" in line, line
    assert "data/.spill" in line and "engine.spill" in line


def test_small_tables_stay_with_pandas_and_large_ones_go_to_the_engine(tmp_path):
    """The catalog's min_rows: the demo's 60,000 rows load as DataFrames; with min_rows
    at 50,000 the interactions (60,000 rows) go to the engine and the sessions (about
    48,000) stay with pandas."""
    from session_recs.framework.tables import TableDataset

    project = copy_project(tmp_path / "p")
    assert run_in_process(project, "run", "--pipelines=ingest,sessionize").exit_code == 0
    path = latest_version(project / "data/02_intermediate/demo/interactions.parquet")
    for min_rows, kind in ((2_000_000, pd.DataFrame), (50_000, None)):
        table = TableDataset(
            filepath=str(path), load_as="table", engine={"min_rows": min_rows}
        ).load()
        if kind is pd.DataFrame:
            assert isinstance(table, pd.DataFrame) and len(table) == 60_000
        else:
            assert not isinstance(table, pd.DataFrame)
            assert table.count().execute() == 60_000 and "_row" in table.columns


def test_a_table_entry_on_a_remote_filesystem_says_what_it_does(tmp_path, caplog):
    """load_as: table on a remote path loads a DataFrame and says so; an engine table is
    not saved there (one line), and nothing is written."""
    import fsspec
    from kedro.io.core import DatasetError

    from session_recs.core.errors import ConfigError
    from session_recs.data import engine
    from session_recs.framework.tables import TableDataset

    frame = pd.DataFrame({"session_id": [0, 0, 1], "item_id": ["a", "b", "a"]})
    memory = fsspec.filesystem("memory")
    with memory.open("/remote/sessions.parquet", "wb") as handle:
        frame.to_parquet(handle)
    with caplog.at_level("WARNING", logger="session_recs.framework.tables"):
        remote = TableDataset(
            filepath="memory:///remote/sessions.parquet", load_as="table", engine={"min_rows": 0}
        )
    (record,) = caplog.records
    assert "load_as: table reads local files only" in record.getMessage()
    assert "memory file loads as a DataFrame" in record.getMessage()
    pd.testing.assert_frame_equal(remote.load(), frame)

    table = engine.connect(spill=tmp_path / "spill").create_table("t", frame)
    target = TableDataset(filepath="memory:///remote/out.parquet")
    with pytest.raises(DatasetError, match="saved to local files only; give a local filepath") as e:
        target.save(table)
    assert isinstance(e.value.__cause__, ConfigError)  # the one line the command prints
    assert not memory.exists("/remote/out.parquet")
