"""Every mistake gets one line, including those Kedro, OmegaConf, YAML and pandas raise.

Each case writes a few files into a fresh copy of a prepared project (conf, a source,
a truncated latest version...), runs one command in this process and expects the CLI's
one-line error (``Error: ...``) with a fragment naming the file, line, field or parameter,
exit code 1, no uncaught exception (a subprocess would print its traceback) and no saved
version changed. A few cases also run as real subprocesses (marked slow), and usage
mistakes run through Kedro's own ``kedro`` command.

The file is long because it is a table: one case per mistake, grouped by class (conf
files, catalog entries, Kedro's and click's options, the other commands, sources, saved
versions and model files); the helpers that set a case up come first.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..conftest import copy_project, latest_version, run_cli, run_in_process, saved_hashes

#: Commands run end to end as a user runs them (in process): the slow layer.
pytestmark = pytest.mark.slow

LOCAL_PARAMS = "conf/local/parameters.yml"
LOCAL_CATALOG = "conf/local/catalog.yml"
MODEL = "--namespaces=most_popular"
SPLIT = "--pipelines=split"
INGEST = ("--pipelines=ingest", "--params=dataset=bad")
INGEST_SPLIT = ("--pipelines=split", "--params=dataset=bad")
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
COMMANDS = {"recommend", "make-demo", "download", "cml-cluster", "nosuchcommand"}

# A source entry added to conf/base/catalog.yml's _sources by a case.
CSV_SOURCE = """\
  bad:
    type: session_recs.framework.datasets.InteractionsDataset
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


def _add_source_entry(extra: str = "", filepath: str = "data/01_raw/bad.csv"):
    """A setup adding a source ``bad`` (its entry only: ``filepath``, and ``extra``)."""

    def setup(project: Path) -> None:
        catalog = project / "conf/base/catalog.yml"
        entry = CSV_SOURCE.format(extra=extra).replace("data/01_raw/bad.csv", filepath)
        catalog.write_text(catalog.read_text().replace("_sources:\n", "_sources:\n" + entry, 1))

    return setup


def _edit_source(old: str, new: str) -> Callable[[Path], None]:
    """A setup adding the source ``bad`` (:func:`_add_source`), its entry's ``old`` text
    replaced by ``new``."""

    def setup(project: Path) -> None:
        _add_source()(project)
        catalog = project / "conf/base/catalog.yml"
        text = catalog.read_text()
        start = text.index("  bad:\n")
        entry_end = start + len(CSV_SOURCE.format(extra=""))
        catalog.write_text(
            text[:start] + text[start:entry_end].replace(old, new, 1) + text[entry_end:]
        )

    return setup


def _source_file(name: str, content: bytes | None):
    """A setup adding a source ``bad`` read from ``data/01_raw/<name>`` holding ``content``
    (None: a folder)."""

    def setup(project: Path) -> None:
        path = project / "data/01_raw" / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        _add_source_entry(filepath=f"data/01_raw/{name}")(project)

    return setup


def _source_symlink_loop():
    def setup(project: Path) -> None:
        (project / "data/01_raw/bad.csv").symlink_to("bad.csv")
        _add_source_entry()(project)

    return setup


def _source_parquet_as_csv():
    """A Parquet file the entry says is CSV."""

    def setup(project: Path) -> None:
        import pandas as pd

        pd.DataFrame({"s": [1, 1], "i": ["a", "b"]}).to_parquet(project / "data/01_raw/bad.csv")
        _add_source_entry("    format: csv\n")(project)

    return setup


def _parquet_latest(relative: str, columns: dict[str, list[Any]]) -> Callable[[Path], None]:
    """The latest version replaced by a readable Parquet file of other ``columns``."""

    def setup(project: Path) -> None:
        import pandas as pd

        pd.DataFrame(columns).to_parquet(_latest(project, relative))

    return setup


def _truncate_latest_glob(relative: str) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        path = _latest(project, relative)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return setup


def _version_is_a_file(relative: str) -> Callable[[Path], None]:
    """A newer "version" that is a file, not a folder."""

    def setup(project: Path) -> None:
        (project / relative / NEWER).write_text("not a version folder")

    return setup


def _empty_newer_version(relative: str) -> Callable[[Path], None]:
    """A newer version folder with nothing in it (a save that never finished)."""

    def setup(project: Path) -> None:
        (project / relative / NEWER).mkdir()

    return setup


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()


def _with_notebook_without_comparison(project: Path) -> None:
    """notebooks/03 (and the src/ folder Kedro's notebook extension wants), no report."""
    from ..conftest import ROOT

    (project / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "03_model_comparison.ipynb", project / "notebooks")
    (project / "src").mkdir(exist_ok=True)
    shutil.rmtree(project / "data" / "08_reporting" / "demo", ignore_errors=True)


COMMANDS.add("render-notebooks")

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
        "catalog-table-load-as-unknown",
        {
            LOCAL_CATALOG: "sessions:\n  type: session_recs.framework.tables.TableDataset\n"
            "  filepath: data/03_primary/demo/sessions.parquet\n  load_as: arrow\n"
        },
        (SPLIT,),
        "load_as: 'arrow'; expected one of pandas, table",
    ),
    (
        "catalog-engine-setting-unknown",
        {
            LOCAL_CATALOG: "sessions:\n  type: session_recs.framework.tables.TableDataset\n"
            "  filepath: data/03_primary/demo/sessions.parquet\n  engine: {memory: 4GB}\n"
        },
        (SPLIT,),
        "engine: unknown setting(s) ['memory']; expected backend, memory_limit, threads, spill",
    ),
    (
        "globals-engine-backend-unknown",
        {"conf/local/globals.yml": "engine: {backend: polars}\n"},
        (SPLIT,),
        "engine.backend = 'polars': expected one of duckdb, spark",
    ),
    (
        # DuckDB's setting left in a Spark engine (an env that replaced only the backend)
        "globals-engine-duckdb-setting-on-spark",
        {"conf/local/globals.yml": "engine: {backend: spark, memory_limit: 4GB}\n"},
        (SPLIT,),
        "engine.memory_limit is a setting of backend duckdb, and this entry's backend is spark",
    ),
    (
        "globals-engine-spark-master-on-duckdb",
        {"conf/local/globals.yml": "engine: {master: 'spark://127.0.0.1:7077'}\n"},
        (SPLIT,),
        "engine.master is a setting of backend spark, and this entry's backend is duckdb",
    ),
    (
        "globals-engine-conf-not-spark",
        {"conf/local/globals.yml": "engine: {backend: spark, conf: {executor.memory: 2g}}\n"},
        (SPLIT,),
        "engine.conf must map Spark settings (spark.*) to values",
    ),
    (
        "catalog-engine-threads-zero",
        {
            LOCAL_CATALOG: "sessions:\n  type: session_recs.framework.tables.TableDataset\n"
            "  filepath: data/03_primary/demo/sessions.parquet\n  engine: {threads: 0}\n"
        },
        (SPLIT,),
        "engine.threads = 0: expected a whole number >= 1",
    ),
    (
        # The project's dataset types moved to session_recs.framework (CHANGELOG).
        "catalog-type-at-its-old-path",
        {LOCAL_CATALOG: "sessions:\n  type: session_recs.data.datasets.OptionalDataset\n"},
        (SPLIT,),
        "session_recs.framework.datasets",
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
    # --params malformed forms
    ("params-empty-key", {}, (SPLIT, "--params==5"), "Parameter key cannot be an empty string"),
    ("params-double-dot", {}, (SPLIT, "--params=split..seed=1"), "split: unknown setting"),
    (
        "params-unclosed-list",
        {},
        (SPLIT, "--params=split.seed=[1"),
        "Invalid value for '--params': split.seed=[1, line 2, column 1:",
    ),
    # Kedro's run options naming nothing
    ("nodes-nothing", {}, ("--nodes=nope",), "--nodes: no node 'nope' in this run; known:"),
    ("to-nodes-nothing", {}, ("--to-nodes=nope",), "--to-nodes: no node 'nope' in this run"),
    (
        "from-inputs-nothing",
        {},
        ("--from-inputs=nope",),
        "--from-inputs: no dataset 'nope' in this run",
    ),
    (
        "pipelines-one-of-two-unknown",
        {},
        ("--pipelines=report,nope",),
        "Unknown pipeline 'nope' in --pipelines; the project's pipelines are",
    ),
    (
        "env-missing-with-split",
        {},
        (SPLIT, "--env=nope"),
        "--env=nope: there is no conf/nope folder",
    ),
    (
        "env-path",
        {},
        (SPLIT, "--env=../conf"),
        "--env=../conf: expected the name of a folder of conf/",
    ),
    (
        "conf-source-a-file",
        {},
        (SPLIT, "--conf-source=pyproject.toml"),
        "pyproject.toml/base; expected a conf folder holding base/",
    ),
    (
        "load-versions-unknown-dataset",
        {},
        (SPLIT, "--load-versions=nosuch:2020-01-01T00.00.00.000Z"),
        "'load_versions' keys [nosuch] are not found in the catalog",
    ),
    (
        "load-versions-missing-model-input",
        {},
        (MODEL, f"--load-versions=train_sessions:{OLDER}"),
        "'train_sessions' has no version '2000-01-01T00.00.00.000Z'",
    ),
    (
        "config-file-missing",
        {},
        ("--config=nowhere.yml",),
        "Invalid value for '--config' / '-c': File 'nowhere.yml' does not exist",
    ),
    (
        "config-file-broken",
        {"run.yml": "run:\n  pipeline: [x\n"},
        ("--config=run.yml",),
        "run.yml, line 3, column 1: while parsing a flow sequence",
    ),
    # click usage mistakes
    ("run-option-needs-value", {}, (SPLIT, "--runner"), "Option '--runner' requires an argument"),
    (
        "run-short-unknown-option",
        {},
        ("-x",),
        "No such option '-x' (see 'session-recs run --help')",
    ),
    ("run-stray-argument", {}, ("split",), "Got unexpected extra argument (split)"),
    ("recommend-no-items", {}, ("recommend",), "Missing argument 'ITEMS...'"),
    (
        "recommend-k-without-value",
        {},
        ("recommend", "22423", "-k"),
        "Option '-k' requires an argument",
    ),
    ("recommend-unknown-option", {}, ("recommend", "22423", "--top=3"), "No such option '--top'"),
    (
        "make-demo-items-text",
        {},
        ("make-demo", "--items=many"),
        "Invalid value for '--items': 'many' is not a valid integer",
    ),
    (
        "make-demo-seed-text",
        {},
        ("make-demo", "--seed=x"),
        "Invalid value for '--seed': 'x' is not a valid integer",
    ),
    (
        "make-demo-events-negative",
        {},
        ("make-demo", "--events=-5", "--output=x.parquet"),
        "--events = -5: expected greater than or equal to 1",
    ),
    (
        "make-demo-events-zero",
        {},
        ("make-demo", "--events=0", "--output=x.parquet"),
        "--events = 0: expected greater than or equal to 1",
    ),
    (
        "make-demo-items-zero",
        {},
        ("make-demo", "--items=0", "--output=x.parquet"),
        "--items = 0: expected greater than or equal to 1",
    ),
    (
        "make-demo-output-folder",
        {},
        ("make-demo", "--output=data"),
        "Invalid value for '--output': File 'data' is a directory",
    ),
    (
        "make-demo-output-exists",
        {},
        ("make-demo", "--output=pyproject.toml"),
        "--output pyproject.toml already exists; pass --force",
    ),
    (
        "download-timeout-text",
        {},
        ("download", "--timeout=soon"),
        "Invalid value for '--timeout': 'soon' is not a valid float",
    ),
    (
        "download-unknown-name",
        {},
        ("download", "nosuchdata"),
        "Unknown dataset 'nosuchdata' to download; known: online_retail",
    ),
    (
        "download-ftp-url",
        {},
        ("download", "--url=ftp://127.0.0.1/x.zip", "--dest=x.parquet"),
        "Cannot download 'ftp://127.0.0.1/x.zip': expected an http://",
    ),
    (
        "download-file-url-missing",
        {},
        ("download", "--url=file:///no/such/file.zip", "--dest=x.parquet"),
        "Download of file:///no/such/file.zip failed",
    ),
    (
        "download-dest-exists",
        {},
        ("download", "--dest=pyproject.toml"),
        "pyproject.toml already exists; pass --force",
    ),
    (
        "download-dest-missing-folder",
        {},
        ("download", "--url=file:///no/such.zip", "--dest=no/such/x.parquet"),
        "Download of file:///no/such.zip failed",
    ),
    (
        "download-sha-not-hex",
        {},
        ("download", "--sha256=zz", "--url=file:///no/such.zip", "--dest=x.parquet"),
        "--sha256 'zz': expected 64 hexadecimal digits",
    ),
    (
        "cml-workers-text",
        {},
        ("cml-cluster", "up", "--workers=abc"),
        "Invalid value for '--workers': 'abc' is not a valid integer",
    ),
    (
        "cml-memory-text",
        {},
        ("cml-cluster", "up", "--memory=lots"),
        "Invalid value for '--memory': 'lots' is not a valid float",
    ),
    ("cml-unknown-subcommand", {}, ("cml-cluster", "restart"), "No such command 'restart'"),
    (
        "cml-status-no-state",
        {},
        ("cml-cluster", "status", "--state-file=nowhere.json"),
        "No CML Ray cluster recorded in nowhere.json",
    ),
    (
        "cml-down-no-state",
        {},
        ("cml-cluster", "down", "--state-file=nowhere.json"),
        "No CML Ray cluster recorded in nowhere.json",
    ),
    (
        "cml-status-garbage-state",
        {"state.json": "{not json"},
        ("cml-cluster", "status", "--state-file=state.json"),
        "state.json is not a cluster record that `cml-cluster up` writes",
    ),
    (
        "cml-up-outside-cml",
        {},
        ("cml-cluster", "up", "--workers=1", "--state-file=s.json"),
        "cml-cluster runs inside a CML session",
    ),
    # recommend
    (
        "recommend-unknown-model",
        {},
        ("recommend", "22423", "--model", "nosuch"),
        "Unknown model 'nosuch'; known models:",
    ),
    (
        "recommend-k-zero",
        {},
        ("recommend", "22423", "--model", "most_popular", "-k", "0"),
        "-k must be a positive whole number of items, got '0'",
    ),
    (
        "recommend-k-text",
        {},
        ("recommend", "22423", "--model", "most_popular", "-k", "ten"),
        "-k must be a positive whole number of items, got 'ten'",
    ),
    (
        "recommend-k-huge",
        {},
        ("recommend", "22423", "--model", "most_popular", "-k", "1000000000000"),
        "None of the items ['22423'] is known to most_popular",
    ),
    (
        "recommend-missing-version",
        {},
        ("recommend", "22423", "--model", "most_popular", "--load-version", OLDER),
        "Cannot load version '2000-01-01T00.00.00.000Z' of most_popular.recommender",
    ),
    (
        "recommend-unknown-dataset",
        {},
        ("recommend", "22423", "--model", "most_popular", "--params=dataset=nosuch"),
        "Unknown dataset 'nosuch' (--params)",
    ),
    (
        "recommend-untrained-dataset",
        {},
        ("recommend", "22423", "--model", "most_popular", "--params=dataset=online_retail"),
        "No trained most_popular model for dataset 'online_retail' yet",
    ),
    (
        "recommend-env-missing",
        {},
        ("recommend", "22423", "--model", "most_popular", "--env=nope"),
        "--env=nope: there is no conf/nope folder",
    ),
    (
        "recommend-untrained-model",
        {},
        ("recommend", "22423", "--model", "markov"),
        "No trained markov model for dataset 'demo' yet",
    ),
    (
        "recommend-empty-item",
        {},
        ("recommend", "", "--model", "most_popular"),
        "None of the items [''] is known to most_popular",
    ),
    (
        "recommend-model-garbage",
        _replace_latest(MODEL_FILE, b"garbage" * 10),
        ("recommend", "22423", "--model", "most_popular"),
        "The latest saved most_popular.recommender for dataset 'demo'",
    ),
    # catalog entries of our dataset types
    (
        "source-columns-not-mapping",
        _edit_source("{session_key: s, item_id: i, timestamp: t}", "5"),
        INGEST,
        "'columns'",
    ),
    ("source-columns-without-item", _edit_source("item_id: i, ", ""), INGEST, "item_id"),
    (
        "source-timestamp-unit-unknown",
        _add_source("    timestamp_unit: parsecs\n"),
        INGEST,
        "timestamp_unit must be one of ('s', 'ms', 'us', 'ns')",
    ),
    (
        "source-filepath-folder",
        _source_file("bad.csv", None),
        INGEST,
        "data/01_raw/bad.csv is a folder; expected a file",
    ),
    (
        "source-filepath-s3",
        _add_source_entry("", filepath="s3://bucket/x.csv"),
        INGEST,
        "reads local files only; got 's3://bucket/x.csv'",
    ),
    (
        "source-format-csv-on-parquet",
        _source_parquet_as_csv(),
        INGEST,
        "data/01_raw/bad.csv looks like a Parquet file, not a CSV text file",
    ),
    (
        "source-unknown-argument",
        _add_source("    colour: red\n"),
        INGEST,
        "unexpected keyword argument 'colour'",
    ),
    (
        "source-sep-wrong",
        _add_source("    load_args: {sep: ';'}\n"),
        INGEST,
        "data/01_raw/bad.csv reads as a single column 's,i,t'",
    ),
    (
        "sessions-versioned-text",
        {LOCAL_CATALOG: SESSIONS + "  versioned: 'yes'\n"},
        (SPLIT,),
        "Catalog entry 'sessions' (conf/local/catalog.yml): versioned: expected true or false",
    ),
    (
        "sessions-load-args-unknown",
        {LOCAL_CATALOG: SESSIONS + "  load_args: {engine: nope}\n"},
        ("--nodes=split_next_event",),
        "Catalog entry 'sessions' (conf/local/catalog.yml, line 1): its load_args {'engine'",
    ),
    # source files
    (
        "source-empty-file",
        _source_file("bad.csv", b""),
        INGEST,
        "data/01_raw/bad.csv is empty: expected a header line and rows",
    ),
    (
        "source-header-only",
        _source_file("bad.csv", b"s,i,t\n"),
        INGEST,
        "data/01_raw/bad.csv is empty: it has no data rows",
    ),
    (
        "source-mixed-dates",
        _source_file("bad.csv", b"s,i,t\n1,a,2020-01-01\n1,b,12\n1,c,soon\n"),
        INGEST,
        "Column 't' (timestamp) could not be read as dates",
    ),
    (
        "source-negative-epochs",
        _source_file("bad.csv", b"s,i,t\n1,a,-99999999999999\n1,b,-99999999999998\n"),
        INGEST,
        "Column 't' (timestamp) read as epoch ms (inferred) gives dates outside 1970-2100",
    ),
    (
        "source-binary",
        _source_file("bad.csv", bytes(range(256)) * 4),
        INGEST,
        "data/01_raw/bad.csv is a binary file, not a CSV text file",
    ),
    ("source-symlink-loop", _source_symlink_loop(), INGEST, "Interactions table file not found:"),
    (
        "source-parquet-wrong-schema",
        _add_parquet_source({"x": [1, 2], "y": ["a", "b"]}),
        INGEST,
        "The raw table has no column(s) ['s', 'i', 't']; it has ['x', 'y']",
    ),
    (
        "source-ragged-rows",
        _source_file("bad.csv", b"s,i,t\n1,a,2020-01-01,x,y\n1,b\n"),
        INGEST,
        "Column 't' (timestamp) could not be read as dates",
    ),
    # saved versions
    (
        "garbage-train-sessions",
        _replace_latest(TRAIN, b"PAR1 garbage" * 50),
        (MODEL,),
        "The latest saved train_sessions (data/05_model_input/demo/train_sessions.parquet/",
    ),
    (
        "csv-as-train-sessions",
        _replace_latest(TRAIN, b"a,b\n1,2\n"),
        (MODEL,),
        "not a whole Parquet file",
    ),
    (
        "empty-test-pairs",
        _replace_latest("data/05_model_input/demo/test_pairs.parquet", b""),
        (MODEL,),
        "The latest saved test_pairs (data/05_model_input/demo/test_pairs.parquet/",
    ),
    (
        "train-sessions-wrong-schema",
        _parquet_latest(TRAIN, {"x": [1]}),
        (MODEL,),
        "has no column(s) ['session_id', 'position', 'item_id'] (it has ['x'])",
    ),
    (
        "test-pairs-wrong-schema",
        _parquet_latest("data/05_model_input/demo/test_pairs.parquet", {"x": [1]}),
        ("--nodes=most_popular.evaluate_recommender",),
        "The saved test_pairs (data/05_model_input/demo/test_pairs.parquet/",
    ),
    (
        "garbage-sessions",
        _replace_latest("data/03_primary/demo/sessions.parquet", b"\x00" * 100),
        ("--nodes=split_next_event",),
        "The latest saved sessions (data/03_primary/demo/sessions.parquet/",
    ),
    (
        "model-garbage",
        _replace_latest(MODEL_FILE, b"garbage" * 10),
        ("--nodes=most_popular.evaluate_recommender",),
        "most_popular.npz: not a session-recs model file",
    ),
    (
        "model-truncated",
        _truncate_latest_glob(MODEL_FILE),
        ("--nodes=most_popular.evaluate_recommender",),
        "most_popular.npz: not a session-recs model file",
    ),
    (
        "model-a-list",
        _replace_latest(MODEL_FILE, pickle.dumps([1, 2])),
        ("--nodes=most_popular.evaluate_recommender",),
        "most_popular.npz: not a session-recs model file",
    ),
    (
        "model-zip-of-nothing",
        _replace_latest(MODEL_FILE, _empty_zip()),
        ("--nodes=most_popular.evaluate_recommender",),
        "most_popular.npz: a zip archive without state.json",
    ),
    (
        "notebook-before-the-models-ran",
        _with_notebook_without_comparison,
        ("render-notebooks", "notebooks/03_model_comparison.ipynb", "--output=html"),
        "model_comparison not made yet for dataset 'demo': run `kedro run`",
    ),
]


#: Typed parameters set wrong in every section: the mechanism of test_bad_inputs' fast
#: cases, so these run in the slow layer (each loads the whole configuration, ~3 s).
PARAMETER_CASES: list[tuple[str, Any, tuple[str, ...], str]] = [
    (
        "split-seed-text",
        {},
        (SPLIT, "--params=split.seed=abc"),
        "split.seed = 'abc': expected a whole number",
    ),
    (
        "split-test-fraction-negative",
        {},
        (SPLIT, "--params=split.test_fraction=-0.1"),
        "split.test_fraction = -0.1: expected greater than 0",
    ),
    (
        "split-test-fraction-text",
        {},
        (SPLIT, "--params=split.test_fraction=half"),
        "split.test_fraction = 'half': expected a number",
    ),
    (
        "split-validation-fraction-two",
        {},
        (SPLIT, "--params=split.validation_fraction=2"),
        "split.validation_fraction = 2: expected less than 0.5",
    ),
    (
        "split-prefix-maybe",
        {},
        (SPLIT, "--params=split.validation_prefix_in_train=maybe"),
        "split.validation_prefix_in_train = 'maybe': expected true or false",
    ),
    (
        "split-all-final-pairs-three",
        {},
        (SPLIT, "--params=split.all_final_pairs=3"),
        "split.all_final_pairs = 3: expected true or false",
    ),
    (
        "split-misspelt-key",
        {},
        (SPLIT, "--params=split.strateg=ff19"),
        "split.strateg: unknown setting",
    ),
    (
        "split-cutoff-list",
        {},
        (SPLIT, "--params=split.cutoff=[1,2]"),
        "Item `2]` must contain a key and a value",
    ),
    (
        "sessionize-cancellations-perhaps",
        {},
        (SPLIT, "--params=sessionize.drop_cancellations=perhaps"),
        "sessionize.drop_cancellations = 'perhaps': expected true or false",
    ),
    (
        "sessionize-non-products-two",
        {},
        (SPLIT, "--params=sessionize.drop_non_products=2"),
        "sessionize.drop_non_products = 2: expected true or false",
    ),
    (
        "sessionize-strategy-list",
        {},
        (SPLIT, "--params=sessionize.strategy=[a]"),
        "sessionize.strategy = ['a']: expected 'customer', 'invoice' or 'time_gap'",
    ),
    (
        "sessionize-gap-nan",
        {},
        (SPLIT, "--params=sessionize.gap_minutes=nan"),
        "sessionize.gap_minutes = 'nan': expected a finite number",
    ),
    (
        "sessionize-min-length-text",
        {},
        (SPLIT, "--params=sessionize.min_session_length=two"),
        "sessionize.min_session_length = 'two': expected a whole number",
    ),
    ("evaluation-ks-text", {}, (MODEL, "--params=evaluation.ks=abc"), "evaluation.ks = 'abc'"),
    (
        "evaluation-ks-empty",
        {},
        (MODEL, "--params=evaluation.ks=[]"),
        "report.k = 10: expected one of evaluation.ks []",
    ),
    (
        "evaluation-contexts-unknown",
        {},
        (MODEL, "--params=evaluation.contexts=[everything]"),
        "evaluation.contexts.0 = 'everything': expected 'last_item' or 'session'",
    ),
    (
        "evaluation-seed-negative",
        {},
        (MODEL, "--params=evaluation.seed=-3"),
        "evaluation.seed = -3: expected greater than or equal to 0",
    ),
    (
        "evaluation-n-boot-fraction",
        {},
        (MODEL, "--params=evaluation.n_boot=1.5"),
        "evaluation.n_boot = 1.5: expected a whole number",
    ),
    (
        "evaluation-misspelt-key",
        {},
        (MODEL, "--params=evaluation.kz=[5]"),
        "evaluation.kz: unknown setting",
    ),
    (
        "report-k-text",
        {},
        ("--pipelines=report", "--params=report.k=abc"),
        "report.k = 'abc': expected a whole number",
    ),
    (
        "report-references-number",
        {},
        ("--pipelines=report", "--params=report.references=5"),
        "report.references = 5: expected a mapping",
    ),
    (
        "model-kind-misspelt",
        {},
        (MODEL, "--params=most_popular.model.kind=markovv"),
        "most_popular.model: Unknown model kind 'markovv'; known kinds:",
    ),
    (
        "markov-window-zero",
        {},
        ("--namespaces=markov", "--params=markov.model.options.context_window=0"),
        "markov.model.options.context_window = 0: expected greater than or equal to 1",
    ),
    (
        "markov-window-text",
        {},
        ("--namespaces=markov", "--params=markov.model.options.context_window=abc"),
        "markov.model.options.context_window = 'abc': expected a whole number",
    ),
    (
        "sr-steps-negative",
        {},
        ("--namespaces=sequential_rules", "--params=sequential_rules.model.options.steps=-1"),
        "sequential_rules.model.options.steps = -1: expected greater than or equal to 1",
    ),
    (
        "sr-pruning-text",
        {},
        ("--namespaces=sequential_rules", "--params=sequential_rules.model.options.pruning=abc"),
        "sequential_rules.model.options.pruning = 'abc': expected a whole number",
    ),
    (
        "ar-mode-unknown",
        {},
        ("--namespaces=association_rules", "--params=association_rules.model.options.mode=dirty"),
        "association_rules.model.options.mode = 'dirty': expected 'clean' or 'ff19'",
    ),
    (
        "stan-lambda-negative",
        {},
        ("--namespaces=stan", "--params=stan.model.options.lambda_spw=-1"),
        "stan.model.options.lambda_spw = -1: expected greater than 0",
    ),
    (
        "vstan-similarity-unknown",
        {},
        ("--namespaces=vstan", "--params=vstan.model.options.similarity=euclid"),
        "vstan.model.options.similarity = 'euclid': expected 'cosine' or 'vec'",
    ),
    (
        "item-knn-unknown-option",
        {},
        ("--namespaces=item_knn", "--params=item_knn.model.options.nope=1"),
        "item_knn.model: Unknown option(s) ['nope'] for model kind 'item_knn'",
    ),
    (
        "session-knn-m-negative",
        {},
        ("--namespaces=session_knn", "--params=session_knn.model.options.m=-2"),
        "session_knn.model.options.m = -2: expected greater than or equal to 1",
    ),
    (
        "w2v-vector-size-zero",
        {},
        (
            "--namespaces=word2vec_ff19_default",
            "--params=word2vec_ff19_default.model.options.vector_size=0",
        ),
        "word2vec_ff19_default.model.options.vector_size = 0: expected greater",
    ),
    (
        "w2v-preset-unknown",
        {},
        (
            "--namespaces=word2vec_ff19_default",
            "--params=word2vec_ff19_default.model.options.preset=nope",
        ),
        "word2vec_ff19_default.model: word2vec: unknown preset 'nope'; valid presets",
    ),
    (
        "w2v-epochs-negative",
        {},
        (
            "--namespaces=word2vec_ff19_default",
            "--params=word2vec_ff19_default.model.options.epochs=-1",
        ),
        "word2vec_ff19_default.model.options.epochs = -1: expected greater",
    ),
    (
        "w2v-workers-text",
        {},
        (
            "--namespaces=word2vec_ff19_default",
            "--params=word2vec_ff19_default.model.options.workers=abc",
        ),
        "word2vec_ff19_default.model.options.workers = 'abc': expected a whole number",
    ),
    (
        "model-options-not-a-mapping",
        {},
        (MODEL, "--params=most_popular.model.options=5"),
        "most_popular.model.options = 5: expected a mapping",
    ),
    (
        "tune-metric-unknown",
        {},
        ("--pipeline=tune", "--params=tune.metric=accuracy"),
        "tune.metric = 'accuracy': expected 'recall' or 'mrr'",
    ),
    (
        "tune-k-zero",
        {},
        ("--pipeline=tune", "--params=tune.k=0"),
        "tune.k = 0: expected greater than or equal to 1",
    ),
    (
        "tune-cpus-zero",
        {},
        ("--pipeline=tune", "--params=tune.cpus_per_trial=0"),
        "tune.cpus_per_trial = 0: expected greater than or equal to 1",
    ),
    (
        "tune-model-unknown",
        {},
        ("--pipeline=tune", "--params=tune.model=nosuch"),
        "tune.models: no model namespace 'nosuch'; searchable:",
    ),
    (
        "tune-context-unknown",
        {},
        ("--pipeline=tune", "--params=tune.context=everything"),
        "tune.context = 'everything': expected 'last_item' or 'session'",
    ),
    (
        "tune-max-failures-negative",
        {},
        ("--pipeline=tune", "--params=tune.max_failures=-1"),
        "tune.max_failures = -1: expected greater than or equal to 0",
    ),
    (
        "tune-smoke-maybe",
        {},
        ("--pipeline=tune", "--params=tune.smoke=maybe"),
        "tune.smoke = 'maybe': expected true or false",
    ),
    (
        "tune-misspelt-key",
        {},
        ("--pipeline=tune", "--params=tune.num_sample=3"),
        "tune.num_sample: unknown setting",
    ),
    (
        "params-local-wrong-type",
        {LOCAL_PARAMS: "split:\n  seed: abc\n"},
        (SPLIT,),
        "split.seed = 'abc': expected a whole number",
    ),
    (
        "params-local-misspelt",
        {LOCAL_PARAMS: "sessionize:\n  gap_minuts: 5\n"},
        (SPLIT,),
        "sessionize.gap_minuts: unknown setting",
    ),
    (
        "params-dataset-block-wrong-type",
        {LOCAL_PARAMS: "datasets:\n  demo:\n    split: {seed: abc}\n"},
        (SPLIT,),
        "split.seed = 'abc': expected a whole number",
    ),
    (
        "tune-budget-zero",
        {},
        ("--pipelines=tune", "--params=tune.time_budget_s=0"),
        "tune.time_budget_s = 0: expected a number of seconds greater than 0, auto",
    ),
    (
        "tune-budget-negative",
        {},
        ("--pipeline=tune", "--params=tune.time_budget_s=-30"),
        "tune.time_budget_s = -30: expected a number of seconds greater than 0, auto",
    ),
    (
        "tune-budget-text",
        {},
        ("--pipelines=tune", "--params=tune.time_budget_s=soon"),
        "tune.time_budget_s = 'soon': expected a number of seconds greater than 0, auto",
    ),
    (
        "tune-auto-budget-floor-above-ceiling",
        {},
        ("--pipelines=tune", "--params=tune.auto_budget.min_s=900,tune.auto_budget.max_s=60"),
        "tune.auto_budget.min_s = 900.0: at most tune.auto_budget.max_s=60",
    ),
]
CASES += PARAMETER_CASES


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
    ("files", "args", "fragment"),
    [
        pytest.param(*case[1:], id=case[0], marks=[pytest.mark.slow] * (case in PARAMETER_CASES))
        for case in CASES
    ],
)
def test_a_mistake_gets_one_line_and_changes_nothing(prepared, tmp_path, files, args, fragment):
    project = _set_up(prepared, tmp_path / "p", files)
    before = saved_hashes(project)
    command = args if args[0] in COMMANDS else ("run", *args)
    result = run_in_process(project, *command)
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    assert len(result.error_lines) == 1, result.output[-3000:]
    assert fragment in result.error_lines[0], result.error_lines[0]
    assert saved_hashes(project) == before


def test_the_tables_of_mistakes_hold_at_least_250_cases():
    """Issue 24's number, over every table of mistakes (each run by its own test)."""
    from ..framework import test_bad_inputs, test_ingest_refusals, test_parameters_applied

    tables = {
        "fault table": [case[0] for case in CASES],
        "bad inputs": test_bad_inputs.CASES,
        "ingest refusals": test_ingest_refusals.CASES,
        "parameters (CLI)": test_parameters_applied.CLI_CASES,
        "parameters (keys)": test_parameters_applied.UNKNOWN_KEYS,
        "parameters (dataset)": test_parameters_applied.BAD_DATASETS,
    }
    try:
        from . import test_serving_requests
    except pytest.skip.Exception:  # without the mlflow extra: the served requests skip too
        pass
    else:
        tables["served requests"] = test_serving_requests.MALFORMED
        tables["serve-mlflow"] = SERVE_CASES
    assert len(set(tables["fault table"])) == len(CASES), "two fault-table cases share an id"
    counts = {name: len(table) for name, table in tables.items()}
    assert sum(counts.values()) >= 250, counts


SERVE_CASES = [
    (
        "a run that does not exist",
        "runs:/0123abcd/model",
        (),
        "not found; expected runs:/<run id>/model",
    ),
    ("a folder without a model", "data", (), "'MLmodel'"),
    ("a registered model that does not exist", "models:/nope/1", (), "name=nope not found"),
    ("a port out of range", "MODEL", ("--port", "70000"), "is not in the range 1<=x<=65535"),
    ("a port already taken", "MODEL", ("--port", "TAKEN"), "cannot listen there"),
]


@pytest.mark.parametrize(
    ("uri", "options", "fragment"), [c[1:] for c in SERVE_CASES], ids=[c[0] for c in SERVE_CASES]
)
def test_serve_mlflow_refuses_what_it_cannot_serve_in_one_line(  # noqa: PLR0917 (fixtures)
    prepared, tmp_path, monkeypatch, uri, options, fragment
):
    """MLflow's server prints a traceback for these; serve-mlflow checks them first.

    The store is the project's mlruns/ folder (conf/mlflow/mlflow.yml), which MLflow 3
    refuses unless MLFLOW_ALLOW_FILE_STORE is set: serve-mlflow sets it as the tracking hook
    does, so a user who never set it gets MLflow's answer for the model, not that refusal.
    """
    import socket

    pytest.importorskip("mlflow", reason='serve-mlflow needs the mlflow extra (".[mlflow]")')
    from session_recs.models.pyfunc import save_model

    project = _set_up(prepared, tmp_path / "p", {})
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (project / "mlruns").as_uri())
    if uri == "MODEL":
        uri = str(tmp_path / "served")
        save_model(_latest(project, MODEL_FILE), Path(uri), model="most_popular")
    before = saved_hashes(project)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        options = tuple(port if option == "TAKEN" else option for option in options)
        result = run_in_process(project, "serve-mlflow", uri, *options)
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    [line] = result.error_lines
    assert fragment in line, line
    assert saved_hashes(project) == before


def test_a_full_disk_while_writing_names_the_file(prepared, tmp_path, monkeypatch):
    """ENOSPC from a write names no file: the message still says which one."""
    import errno
    import os

    project = _set_up(prepared, tmp_path / "p", {})
    before = saved_hashes(project)

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = run_in_process(project, "run", MODEL)
    assert result.exception is None, result.output[-3000:]
    assert result.exit_code == 1
    [line] = result.error_lines
    assert f"Cannot write ({project / 'data'}" in line, line
    assert "the disk is full. Nothing was published" in line
    assert saved_hashes(project) == before


SUBPROCESS_CASES = [
    "params-tab-indent",
    "catalog-unclosed-bracket",
    "params-interpolation-to-nothing",
    "truncated-train-sessions",
    "recommend-model-is-a-dict",
    "no-such-runner",
    "params-unclosed-list",
    "config-file-broken",
    "env-path",
    "train-sessions-wrong-schema",
    "sessions-load-args-unknown",
    "cml-status-garbage-state",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_a_mistake_prints_no_traceback_in_a_real_process(prepared, tmp_path, case):
    _, files, args, fragment = next(c for c in CASES if c[0] == case)
    project = _set_up(prepared, tmp_path / "p", files)
    before = saved_hashes(project)
    command = args if args[0] in COMMANDS else ("run", *args)
    result = run_cli(project, *command)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fragment in errors[0], output[-3000:]
    assert saved_hashes(project) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("run", "--bad-option"), "No such option '--bad-option' (see 'kedro run --help')"),
        (("run", "--runner"), "Option '--runner' requires an argument"),
        (("recommend",), "Missing argument 'ITEMS...' (see 'kedro recommend --help')"),
        (("recommend", "a", "-k"), "Option '-k' requires an argument"),
        (("make-demo", "--events=many"), "Invalid value for '--events': 'many'"),
        (("cml-cluster", "up", "--workers=abc"), "Invalid value for '--workers': 'abc'"),
        (("cml-cluster", "restart"), "No such command 'restart'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_a_usage_mistake_through_the_kedro_command_is_one_line(tmp_path, args, fragment):
    """Through Kedro's own entry point (``kedro run ...``), not only ``python -m``: click's
    usage error is one line and exit code 1, and ``--help`` still helps."""
    import os
    import subprocess

    kedro = shutil.which("kedro")
    if kedro is None:
        pytest.skip("the kedro command is not on PATH")
    project = copy_project(tmp_path / "p")
    (project / "src").mkdir()  # Kedro's CLI wants the source folder; the package is installed

    def kedro_cli(*words: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
        return subprocess.run(
            [kedro, *words],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    result = kedro_cli(*args)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "Usage:" not in output, output[-3000:]
    [line] = [line for line in output.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: ConfigError: ") and fragment in line, line
    helped = kedro_cli(args[0], "--help")
    assert helped.returncode == 0 and "Usage: kedro " in helped.stdout, helped.stderr[-3000:]
