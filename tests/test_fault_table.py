"""Every mistake gets one line, including those Kedro, OmegaConf, YAML and pandas raise.

Each case writes a few files into a fresh copy of a prepared project (conf, a source,
a truncated latest version...), runs one command in this process and expects the CLI's
one-line error (``Error: ...``) with a fragment naming the file, line, field or parameter,
exit code 1, no uncaught exception (a subprocess would print its traceback) and no saved
version changed. A few cases also run as real subprocesses (marked slow).
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import copy_project, latest_version, run_cli, run_in_process
from .test_bad_inputs import saved

LOCAL_PARAMS = "conf/local/parameters.yml"
LOCAL_CATALOG = "conf/local/catalog.yml"
MODEL = "--namespaces=most_popular"
SPLIT = "--pipelines=split"
TRAIN = "data/05_model_input/demo/train_sessions.parquet"
#: The model's versioned folder, whatever its file format (a glob).
MODEL_FILE = "data/06_models/demo/most_popular.*"
MODEL_SHOWN = "data/06_models/demo/most_popular."
OLDER = "2000-01-01T00.00.00.000Z"
PINNED = "2001-01-01T00.00.00.000Z"
NEWER = "2999-01-01T00.00.00.000Z"
SESSIONS = (
    "sessions:\n  type: pandas.ParquetDataset\n  filepath: data/03_primary/demo/sessions.parquet\n"
)
#: Commands other than `run` (a case's arguments start with one of them).
COMMANDS = {"recommend", "make-demo", "download", "nosuchcommand"}

# A source entry added to conf/base/catalog.yml's _sources by a case.
CSV_SOURCE = """\
  bad:
    type: session_recs.data.datasets.InteractionsDataset
    filepath: data/01_raw/bad.csv
    columns: {{session_key: s, item_id: i, timestamp: t}}
{extra}"""


def _add_source(extra: str = "", table: str = "s,i,t\n1,a,2020-01-01\n1,b,2020-01-02\n"):
    """A setup adding a source ``bad`` (its CSV ``table``) to the base catalog."""

    def setup(project: Path) -> None:
        (project / "data/01_raw/bad.csv").write_text(table)
        catalog = project / "conf/base/catalog.yml"
        entry = CSV_SOURCE.format(extra=extra)
        catalog.write_text(catalog.read_text().replace("_sources:\n", "_sources:\n" + entry, 1))

    return setup


def _add_parquet_source(frame_columns: dict[str, list[Any]]):
    def setup(project: Path) -> None:
        import pandas as pd

        pd.DataFrame(frame_columns).to_parquet(project / "data/01_raw/bad.parquet")
        catalog = project / "conf/base/catalog.yml"
        entry = CSV_SOURCE.format(extra="").replace("bad.csv", "bad.parquet")
        catalog.write_text(catalog.read_text().replace("_sources:\n", "_sources:\n" + entry, 1))

    return setup


def _truncate_latest(relative: str) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        path = latest_version(project / relative)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return setup


def _truncate_latest_keeping_an_older(relative: str) -> Callable[[Path], None]:
    """A good older version (OLDER), then the latest truncated."""

    def setup(project: Path) -> None:
        latest = latest_version(project / relative)
        shutil.copytree(latest.parent, latest.parent.with_name(OLDER))
        _truncate_latest(relative)(project)

    return setup


def _truncate_and_pin(relative: str) -> Callable[[Path], None]:
    """The latest truncated, then a newer good version on top (the bad one is pinned)."""

    def setup(project: Path) -> None:
        latest = latest_version(project / relative)
        shutil.copytree(latest.parent, latest.parent.with_name(NEWER))
        latest.write_bytes(latest.read_bytes()[:100])
        latest.parent.rename(latest.parent.with_name(PINNED))

    return setup


def _latest(project: Path, relative: str) -> Path:
    """The newest saved file of the versioned dataset at ``relative`` (a glob)."""
    return latest_version(min(project.glob(relative)))


def _replace_latest(relative: str, content: bytes) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        _latest(project, relative).write_bytes(content)

    return setup


def _folder(relative: str) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        (project / relative).mkdir(parents=True)

    return setup


# (id, files to write or a setup function, command arguments, a fragment of the one line)
CASES: list[tuple[str, Any, tuple[str, ...], str]] = [
    # YAML syntax
    (
        "params-unclosed-bracket",
        {LOCAL_PARAMS: "split:\n  seed: [1, 2\n"},
        (SPLIT,),
        "conf/local/parameters.yml, line 3",
    ),
    (
        "params-tab-indent",
        {LOCAL_PARAMS: "split:\n\tseed: 3\n"},
        (SPLIT,),
        "conf/local/parameters.yml, line 2, column 1: while scanning for the next token, found "
        "character that cannot start any token (a tab: YAML indents with spaces only)",
    ),
    (
        "catalog-unclosed-bracket",
        {LOCAL_CATALOG: "extra:\n  type: pandas.CSVDataset\n  filepath: [a.csv\n"},
        (SPLIT,),
        "conf/local/catalog.yml, line 4",
    ),
    (
        "catalog-tab-indent",
        {LOCAL_CATALOG: "extra:\n\ttype: pandas.CSVDataset\n"},
        (SPLIT,),
        "conf/local/catalog.yml, line 2",
    ),
    ("params-not-utf8", {LOCAL_PARAMS: b"split:\n  seed: 3  # caf\xe9\n"}, (SPLIT,), "UTF-8"),
    (
        "params-duplicate-key",
        {LOCAL_PARAMS: "split:\n  seed: 1\nsplit:\n  seed: 2\n"},
        (SPLIT,),
        "conf/local/parameters.yml",
    ),
    (
        "params-duplicate-across-files",
        {
            LOCAL_PARAMS: "split:\n  seed: 1\n",
            "conf/local/parameters_more.yml": "split:\n  seed: 2\n",
        },
        (SPLIT,),
        "parameters_more.yml",
    ),
    (
        "params-interpolation-to-nothing",
        {LOCAL_PARAMS: "split:\n  seed: ${oops}\n"},
        (SPLIT,),
        "${oops}",
    ),
    (
        "params-runtime-params-missing",
        {LOCAL_PARAMS: "split:\n  seed: ${runtime_params:seed}\n"},
        (SPLIT,),
        "runtime_params:seed",
    ),
    (
        "catalog-entry-without-type",
        {LOCAL_CATALOG: "extra:\n  filepath: data/extra.csv\n"},
        (SPLIT,),
        "'extra'",
    ),
    (
        "catalog-unknown-type",
        {LOCAL_CATALOG: "sessions:\n  type: NoSuchDataset\n  filepath: data/s.parquet\n"},
        (SPLIT,),
        "NoSuchDataset",
    ),
    (
        "catalog-pandas-no-such-dataset",
        {LOCAL_CATALOG: "sessions:\n  type: pandas.NoSuchDataset\n  filepath: data/s.csv\n"},
        (SPLIT,),
        "Dataset 'NoSuchDataset' not found in 'pandas'",
    ),
    (
        "source-encoding-klingon",
        _add_source("    load_args: {encoding: klingon}\n"),
        ("--pipelines=ingest", "--params=dataset=bad"),
        "klingon",
    ),
    (
        "source-year-3000-text",
        _add_source(table="s,i,t\n1,a,3000-01-01\n1,b,3000-01-02\n"),
        ("--pipelines=ingest", "--params=dataset=bad"),
        "Column 't' (timestamp)",
    ),
    (
        "source-year-3000-parquet",
        _add_parquet_source({"s": [1, 1], "i": ["a", "b"], "t": ["3000-01-01", "3000-01-02"]}),
        ("--pipelines=ingest", "--params=dataset=bad"),
        "Column 't' (timestamp)",
    ),
    ("no-such-runner", {}, (SPLIT, "--runner=NoSuchRunner"), "--runner"),
    (
        "truncated-train-sessions",
        _truncate_latest(TRAIN),
        (MODEL,),
        "train_sessions.parquet",
    ),
    (
        "truncated-test-pairs",
        _truncate_latest("data/05_model_input/demo/test_pairs.parquet"),
        (MODEL,),
        "test_pairs.parquet",
    ),
    (
        "truncated-train-sessions-with-an-older-version",
        _truncate_latest_keeping_an_older(TRAIN),
        (MODEL,),
        f"load the previous version with --load-versions=train_sessions:{OLDER}",
    ),
    (
        "truncated-pinned-version",
        _truncate_and_pin(TRAIN),
        ("--nodes=most_popular.fit_recommender", f"--load-versions=train_sessions:{PINNED}"),
        f"The saved train_sessions (data/05_model_input/demo/train_sessions.parquet/{PINNED}",
    ),
    (
        "empty-train-sessions",
        _replace_latest(TRAIN, b""),
        (MODEL,),
        "train_sessions.parquet",
    ),
    (
        "model-is-a-dict-evaluate",
        _replace_latest(MODEL_FILE, pickle.dumps({"a": 1})),
        ("--nodes=most_popular.evaluate_recommender",),
        MODEL_SHOWN,
    ),
    # more YAML
    (
        "params-is-a-list",
        {LOCAL_PARAMS: "- split\n- seed\n"},
        (SPLIT,),
        "conf/local/parameters.yml",
    ),
    ("params-is-a-scalar", {LOCAL_PARAMS: "just words\n"}, (SPLIT,), "conf/local/parameters.yml"),
    ("params-binary", {LOCAL_PARAMS: bytes(range(256))}, (SPLIT,), "conf/local/parameters.yml"),
    ("params-folder", _folder(LOCAL_PARAMS), (SPLIT,), "conf/local/parameters.yml"),
    ("catalog-folder", _folder(LOCAL_CATALOG), (SPLIT,), "conf/local/catalog.yml"),
    (
        "params-unclosed-quote",
        {LOCAL_PARAMS: 'split:\n  seed: "3\n'},
        (SPLIT,),
        "conf/local/parameters.yml, line",
    ),
    (
        "params-mapping-in-value",
        {LOCAL_PARAMS: "split:\n  seed: a: b\n"},
        (SPLIT,),
        "conf/local/parameters.yml, line 2",
    ),
    (
        "params-unknown-alias",
        {LOCAL_PARAMS: "split:\n  seed: *nope\n"},
        (SPLIT,),
        "conf/local/parameters.yml, line 2",
    ),
    (
        "params-missing-nested-interpolation",
        {LOCAL_PARAMS: "split:\n  seed: ${split.nope}\n"},
        (SPLIT,),
        "split.nope",
    ),
    (
        "catalog-duplicate-key",
        {LOCAL_CATALOG: "extra:\n  type: pandas.CSVDataset\n  filepath: a.csv\nextra: {}\n"},
        (SPLIT,),
        "conf/local/catalog.yml",
    ),
    (
        "catalog-interpolation-to-nothing",
        {LOCAL_CATALOG: "extra:\n  type: pandas.CSVDataset\n  filepath: ${oops}\n"},
        (SPLIT,),
        "${oops}",
    ),
    (
        "catalog-runtime-params-missing",
        {LOCAL_CATALOG: "extra:\n  type: pandas.CSVDataset\n  filepath: ${runtime_params:where}\n"},
        (SPLIT,),
        "runtime_params:where",
    ),
    ("catalog-entry-scalar", {LOCAL_CATALOG: "extra: data/extra.csv\n"}, (SPLIT,), "'extra'"),
    ("catalog-is-a-list", {LOCAL_CATALOG: "- a\n- b\n"}, (SPLIT,), "conf/local/catalog.yml"),
    (
        "catalog-filepath-not-text",
        {LOCAL_CATALOG: "sessions:\n  type: pandas.ParquetDataset\n  filepath: 12\n"},
        (SPLIT,),
        "'sessions'",
    ),
    (
        "catalog-versioned-not-bool",
        {LOCAL_CATALOG: SESSIONS + "  versioned: [1]\n"},
        (SPLIT,),
        "'sessions'",
    ),
    (
        "catalog-unknown-argument",
        {LOCAL_CATALOG: SESSIONS + "  versioned: true\n  colour: red\n"},
        (SPLIT,),
        "colour",
    ),
    (
        "credentials-broken",
        {"conf/local/credentials.yml": "token: [abc\n"},
        (SPLIT,),
        "conf/local/credentials.yml, line",
    ),
    (
        "env-with-broken-file",
        {"conf/broken/parameters.yml": "split:\n\tseed: 3\n"},
        (SPLIT, "--env=broken"),
        "conf/broken/parameters.yml, line 2",
    ),
    ("conf-source-missing", {}, (SPLIT, "--conf-source=nowhere"), "nowhere"),
    ("runner-not-a-runner", {}, (SPLIT, "--runner=os.path"), "--runner"),
    ("runner-dotted-missing", {}, (SPLIT, "--runner=kedro.runner.Nope"), "--runner"),
    ("load-versions-empty-name", {}, (SPLIT, "--load-versions=:v1"), "--load-versions"),
    ("load-versions-path", {}, (SPLIT, "--load-versions=sessions:../x"), "--load-versions"),
    (
        "params-malformed",
        {},
        (SPLIT, "--params=split.seed"),
        "Item `split.seed` must contain a key",
    ),
    (
        "model-is-none",
        _replace_latest(MODEL_FILE, pickle.dumps(None)),
        ("--nodes=most_popular.evaluate_recommender",),
        MODEL_SHOWN,
    ),
    (
        "truncated-sessions",
        _truncate_latest("data/03_primary/demo/sessions.parquet"),
        ("--nodes=split_next_event",),
        "sessions.parquet",
    ),
    (
        "recommend-model-is-a-dict",
        _replace_latest(MODEL_FILE, pickle.dumps({"a": 1})),
        ("recommend", "22423", "--model", "most_popular"),
        MODEL_SHOWN,
    ),
    (
        "params-json-broken",
        {"conf/local/parameters_more.json": '{"split": {"seed": 1,}'},
        (SPLIT,),
        "conf/local/parameters_more.json, line 2",
    ),
    (
        "params-python-tag",
        {LOCAL_PARAMS: "split:\n  seed: !!python/object:os.system x\n"},
        (SPLIT,),
        "conf/local/parameters.yml, line 2",
    ),
    (
        "env-with-broken-catalog",
        {"conf/broken/catalog.yml": "sessions: [\n"},
        (SPLIT, "--env=broken"),
        "conf/broken/catalog.yml, line 2",
    ),
    ("unknown-option", {}, (SPLIT, "--no-such-option"), "--no-such-option"),
    ("unknown-command", {}, ("nosuchcommand",), "nosuchcommand"),
    ("make-demo-events-not-a-number", {}, ("make-demo", "--events=abc"), "--events"),
    (
        "empty-latest-model",
        _replace_latest(MODEL_FILE, b""),
        ("--nodes=most_popular.evaluate_recommender",),
        MODEL_SHOWN,
    ),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A project with the data pipelines and one model run."""
    project = copy_project(tmp_path_factory.mktemp("fault_table") / "project")
    for args in ((SPLIT,), (MODEL,)):
        result = run_in_process(project, "run", *args)
        assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    return project


def _set_up(prepared: Path, target: Path, files: Any) -> Path:
    project = Path(shutil.copytree(prepared, target, symlinks=True))
    if callable(files):
        files(project)
        return project
    for relative, content in files.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return project


@pytest.mark.parametrize(
    ("files", "args", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_mistake_gets_one_line_and_changes_nothing(prepared, tmp_path, files, args, fragment):
    project = _set_up(prepared, tmp_path / "p", files)
    before = saved(project)
    command = args if args[0] in COMMANDS else ("run", *args)
    result = run_in_process(project, *command)
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    assert len(result.error_lines) == 1, result.output[-3000:]
    assert fragment in result.error_lines[0], result.error_lines[0]
    assert saved(project) == before


def test_the_table_is_at_least_fifty_cases():
    assert len(CASES) >= 50


def test_a_full_disk_while_writing_names_the_file(prepared, tmp_path, monkeypatch):
    """ENOSPC from a write names no file: the message still says which one."""
    import errno
    import os

    project = _set_up(prepared, tmp_path / "p", {})
    before = saved(project)

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = run_in_process(project, "run", MODEL)
    assert result.exception is None, result.output[-3000:]
    assert result.exit_code == 1
    [line] = result.error_lines
    assert f"Cannot write ({project / 'data'}" in line, line
    assert "the disk is full. Nothing was published" in line
    assert saved(project) == before


SUBPROCESS_CASES = [
    "params-tab-indent",
    "catalog-unclosed-bracket",
    "params-interpolation-to-nothing",
    "truncated-train-sessions",
    "recommend-model-is-a-dict",
    "no-such-runner",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_a_mistake_prints_no_traceback_in_a_real_process(prepared, tmp_path, case):
    _, files, args, fragment = next(c for c in CASES if c[0] == case)
    project = _set_up(prepared, tmp_path / "p", files)
    before = saved(project)
    command = args if args[0] in COMMANDS else ("run", *args)
    result = run_cli(project, *command)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fragment in errors[0], output[-3000:]
    assert saved(project) == before
