"""Every bad input gets one line: the file, field or parameter and what was expected.

One project is prepared (data pipelines and one model run), then each case runs a
command in this process: it must exit with code 1 through the CLI's one-line error
(``Error: ...``), with no uncaught exception (a subprocess would print a traceback), and
no saved version may change. A few cases also run as real subprocesses
(test_project_runs.py, framework/test_hardening.py) to check that nothing prints a traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import copy_project, latest_version, run_in_process, saved_hashes

#: Commands run end to end as a user runs them (in process): the slow layer.
pytestmark = pytest.mark.slow

# Sources with a broken entry or file, added to the project's catalog for these cases.
BAD_SOURCES = """\
  bad_ms_as_s:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ms.csv
    columns: {session_key: s, item_id: i, timestamp: t}
    timestamp_unit: s
  bad_column:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ms.csv
    columns: {session_key: visitor, item_id: i}
  bad_delimiter:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/colon.csv
    columns: {session_key: s, item_id: i}
  bad_load_args:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ms.csv
    columns: {session_key: s, item_id: i}
    load_args: {header: 0}
  bad_format:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ms.csv
    format: docx
    columns: {session_key: s, item_id: i}
  bad_dates:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/dates.csv
    columns: {session_key: s, item_id: i, timestamp: t}
  bad_missing:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/nowhere.csv
    columns: {session_key: s, item_id: i}
  bad_no_columns:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ms.csv
  bad_unknown_field:
    type: session_recs.framework.datasets.InteractionsDataset
    filepath: data/01_raw/ms.csv
    columns: {session_key: s, item_id: i, price: t}
"""

SPLIT = "--pipelines=split"
MODEL = "--namespaces=most_popular"
# (arguments, a fragment of the one error line)
CASES = [
    # typed parameters, checked before any node runs
    (
        (SPLIT, "--params=sessionize.gap_minutes=abc"),
        "sessionize.gap_minutes = 'abc': expected a number",
    ),
    (
        (SPLIT, "--params=sessionize.gap_minutes=1e30"),
        "sessionize.gap_minutes = 1e+30: expected less",
    ),
    (
        (SPLIT, "--params=sessionize.gap_minutes=-5"),
        "sessionize.gap_minutes = -5: expected greater",
    ),
    (
        (SPLIT, "--params=sessionize.strategy=weekly"),
        "sessionize.strategy = 'weekly': expected 'customer'",
    ),
    ((SPLIT, "--params=sessionize.order=random"), "sessionize.order = 'random': expected 'file'"),
    ((SPLIT, "--params=sessionize.min_session_length=0"), "sessionize.min_session_length = 0"),
    (
        (SPLIT, "--params=sessionize.min_session_length=2.5"),
        "sessionize.min_session_length = 2.5: expected a whole number",
    ),
    (
        (SPLIT, "--params=sessionize.product_pattern=(abc"),
        "sessionize.product_pattern = '(abc': expected a regular expression",
    ),
    (
        (SPLIT, "--params=sessionize.dropna_all_columns=maybe"),
        "sessionize.dropna_all_columns = 'maybe': expected true or false",
    ),
    ((SPLIT, "--params=sessionize.min_item_support=-1"), "sessionize.min_item_support = -1"),
    ((SPLIT, "--params=sessionize.gap_minute=5"), "sessionize.gap_minute: unknown setting"),
    (
        (SPLIT, "--params=split.strategy=random"),
        "split.strategy = 'random': expected 'ff19', 'temporal' or 'predefined'",
    ),
    (
        (SPLIT, "--params=split.test_size=0"),
        "split.test_size = 0: expected a whole number >= 1, or auto",
    ),
    ((SPLIT, "--params=split.test_size=5000"), "split.test_size=5,000 is too large"),
    (
        (SPLIT, "--params=split.test_fraction=0.7"),
        "split.test_fraction = 0.7: expected less than 0.5",
    ),
    (
        (SPLIT, "--params=split.cutoff=yesterday-ish"),
        "split.cutoff = 'yesterday-ish': expected a date",
    ),
    ((SPLIT, "--params=split.seed=-1"), "split.seed = -1"),
    (
        (MODEL, "--params=evaluation.n_boot=-1"),
        "evaluation.n_boot = -1: expected greater than or equal to 1",
    ),
    ((MODEL, "--params=evaluation.ks=[0]"), "evaluation.ks.0 = 0"),
    (
        (MODEL, "--params=evaluation.memory_mb=0"),
        "evaluation.memory_mb = 0: expected greater than 0",
    ),
    (
        (MODEL, "--params=evaluation.protocols=[leave_one_out]"),
        "evaluation.protocols.0 = 'leave_one_out'",
    ),
    (
        (MODEL, "--params=evaluation.unknown_targets=ignore"),
        "evaluation.unknown_targets = 'ignore': expected 'keep' or 'drop'",
    ),
    ((MODEL, "--params=evaluation.exclude_query=perhaps"), "evaluation.exclude_query = 'perhaps'"),
    (("--pipelines=report", "--params=report.k=7"), "report.k = 7: expected one of evaluation.ks"),
    (("--pipelines=report", "--params=report.k=0"), "report.k = 0"),
    (
        ("--namespaces=session_knn", "--params=session_knn.model.options.k=-1"),
        "session_knn.model.options.k = -1: expected greater than or equal to 1",
    ),
    (
        ("--namespaces=session_knn", "--params=session_knn.model.kind=nope"),
        "Unknown model kind 'nope'",
    ),
    (
        ("--namespaces=session_knn", "--params=session_knn.model.options.kk=3"),
        "Unknown option(s) ['kk'] for model kind 'session_knn'",
    ),
    ((SPLIT, "--params=dataset=no_such_data"), "Unknown dataset 'no_such_data'"),
    (("--pipeline=tune", "--params=tune.preset=fastest"), "tune.preset='fastest' does not exist"),
    # Kedro's own options
    (
        ("--namespaces=markv",),
        "--namespaces: no namespace 'markv' in this run; did you mean markov?",
    ),
    (("--from-nodes=typo",), "--from-nodes: no node 'typo'"),
    (("--tags=nope",), "--tags: no tag 'nope'"),
    (("--to-outputs=nothing",), "--to-outputs: no dataset 'nothing'"),
    (("--load-versions=sessions",), "--load-versions=sessions: expected <dataset>:<version>"),
    (
        (SPLIT, "--load-versions=sessions:2020-01-01T00.00.00.000Z"),
        "'sessions' has no version '2020-01-01T00.00.00.000Z'",
    ),
    (("--env=prod",), "--env=prod: there is no conf/prod folder"),
    (("--pipelines=nope",), "Unknown pipeline 'nope'"),
    (("--pipeline=tune", "--pipelines=report"), "Give --pipeline or --pipelines, not both"),
    # sources: the entry or the file
    (
        ("--pipelines=ingest", "--params=dataset=bad_ms_as_s"),
        "Column 't' (timestamp) read as epoch s (timestamp_unit) gives dates outside 1970-2100",
    ),
    (
        ("--pipelines=ingest", "--params=dataset=bad_column"),
        "The raw table has no column(s) ['visitor']",
    ),
    (("--pipelines=ingest", "--params=dataset=bad_delimiter"), "reads as a single column 's:i'"),
    (("--pipelines=ingest", "--params=dataset=bad_load_args"), "unknown load_args ['header']"),
    (
        ("--pipelines=ingest", "--params=dataset=bad_format"),
        "format must be one of ['csv', 'parquet', 'xlsx']",
    ),
    (
        ("--pipelines=ingest", "--params=dataset=bad_dates"),
        "Column 't' (timestamp) could not be read as dates",
    ),
    (("--pipelines=ingest", "--params=dataset=bad_missing"), "Interactions table file not found"),
    (("--pipelines=ingest", "--params=dataset=bad_no_columns"), "the entry needs 'columns'"),
    (
        ("--pipelines=ingest", "--params=dataset=bad_unknown_field"),
        "Unknown interaction field(s) ['price']",
    ),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    project = copy_project(tmp_path_factory.mktemp("bad_inputs") / "project")
    raw = project / "data" / "01_raw"
    pd.DataFrame(
        {"s": [1, 1, 2, 2], "i": list("abab"), "t": [1.7e12 + n for n in range(4)]}
    ).to_csv(raw / "ms.csv", index=False)
    (raw / "colon.csv").write_text("s:i\n1:a\n1:b\n")
    (raw / "dates.csv").write_text("s,i,t\n1,a,soon\n1,b,later\n")
    catalog = project / "conf" / "base" / "catalog.yml"
    catalog.write_text(catalog.read_text().replace("_sources:\n", "_sources:\n" + BAD_SOURCES, 1))
    for args in (("--pipelines=split",), (MODEL,)):
        result = run_in_process(project, "run", *args)
        assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    return project, saved_hashes(project)


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_bad_input_gets_one_line_and_changes_nothing(prepared, args, fragment):
    project, before = prepared
    result = run_in_process(project, "run", *args)
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    assert len(result.error_lines) == 1, result.output[-3000:]
    assert fragment in result.error_lines[0], result.error_lines[0]
    assert saved_hashes(project) == before


def test_the_table_is_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("error", "reason"),
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only")],
)
def test_a_full_disk_or_read_only_folder_at_save_time_is_one_line(
    prepared, monkeypatch, error, reason
):
    """The atomic saver's hidden file cannot be created: nothing is published."""
    import tempfile

    project, before = prepared

    def refuse(*args, **kwargs):
        raise OSError(error, reason, str(project / "data"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = run_in_process(project, "run", MODEL)
    assert result.exception is None, result.output[-3000:]
    assert result.exit_code == 1
    [line] = result.error_lines
    assert f"Cannot write ({project / 'data'}): {reason}" in line
    assert saved_hashes(project) == before


def test_a_corrupt_latest_model_is_named_by_recommend(prepared, tmp_path):
    project, _ = prepared
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(project, copy)
    model = latest_version(copy / "data/06_models/demo/most_popular.npz")
    model.write_bytes(b"not a model file")
    result = run_in_process(copy, "recommend", "22423", "--model", "most_popular")
    assert result.exception is None, result.output[-3000:]
    assert result.exit_code == 1
    [line] = result.error_lines
    assert "The latest saved most_popular.recommender for dataset 'demo'" in line
    assert "cannot be read" in line and "--load-version" in line
