"""Atomic saves: a killed or failed write never becomes a dataset's latest version."""

from __future__ import annotations

import gc
import gzip
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.project import configure_project
from kedro.io import DataCatalog, SharedMemoryDataCatalog
from kedro.io.core import DatasetError, Version
from kedro.pipeline import Pipeline, node
from kedro.runner import ParallelRunner, SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure

from session_recs.data.atomic import AtomicLocalFileSystem, make_atomic
from session_recs.framework.datasets import OptionalDataset
from session_recs.framework.hooks import AtomicSavesHooks

matplotlib.use("Agg")


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (hidden ones included), relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def figure() -> Figure:
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


@pytest.mark.parametrize(
    ("make", "data", "same"),
    [
        (ParquetDataset, pd.DataFrame({"a": [1, 2, 3]}), lambda a, b: a.equals(b)),
        (PickleDataset, {"x": [1, 2]}, lambda a, b: a == b),
        (JSONDataset, {"x": [1, 2], "y": "é"}, lambda a, b: a == b),
        (TextDataset, "# report\nRecall@10 0.25 — é\n", lambda a, b: a == b),
        (MatplotlibDataset, figure(), lambda a, b: a[:8] == b"\x89PNG\r\n\x1a\n"),
    ],
    ids=["parquet", "pickle", "json", "text", "matplotlib"],
)
def test_atomic_datasets_save_and_load_as_before(tmp_path, make, data, same):
    name = {ParquetDataset: "t.parquet", PickleDataset: "m.pkl", JSONDataset: "p.json"}
    filename = name.get(make, "r.md" if make is TextDataset else "plot.png")
    dataset = make(filepath=str(tmp_path / filename), version=Version(None, None))
    assert make_atomic(dataset)
    assert isinstance(dataset._fs, AtomicLocalFileSystem)
    dataset.save(data)

    [saved] = files_under(tmp_path)  # one file, at its versioned path, no hidden leftovers
    path = tmp_path / saved
    assert path.name == filename and path.parent.parent.name == filename
    loaded = path.read_bytes() if make is MatplotlibDataset else dataset.load()
    assert same(loaded, data)
    # The permissions of a plain open(), not mkstemp's 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_save_that_fails_midway_publishes_nothing(tmp_path):
    def failing(_):
        raise TypeError("not JSON serialisable")

    good = JSONDataset(filepath=str(tmp_path / "p.json"), version=Version(None, None))
    make_atomic(good)
    good.save({"first": 1})
    # json.dump writes as it goes: ~40 KB reach the file before the unserialisable value.
    bad = JSONDataset(
        filepath=str(tmp_path / "p.json"),
        version=Version(None, None),
        save_args={"default": failing},
    )
    make_atomic(bad)
    with pytest.raises(DatasetError, match="not JSON serialisable"):
        bad.save({"many": list(range(10_000)), "bad": object()})

    assert len(files_under(tmp_path)) == 1
    fresh = JSONDataset(filepath=str(tmp_path / "p.json"), version=Version(None, None))
    assert fresh.load() == {"first": 1}


KILLED_WRITE = """
import os, signal, sys
from kedro.io.core import Version
from kedro_datasets.json import JSONDataset
from session_recs.data.atomic import make_atomic

folder, atomic = sys.argv[1], sys.argv[2] == "atomic"

def dataset(**save_args):
    ds = JSONDataset(filepath=folder + "/p.json", version=Version(None, None), save_args=save_args)
    if atomic:
        make_atomic(ds)
    return ds

dataset().save({"first": 1})

def die(_):  # the process is killed halfway through writing the second version
    os.kill(os.getpid(), signal.SIGKILL)

dataset(default=die).save({"many": list(range(50_000)), "bad": object()})
"""


@pytest.mark.parametrize("mode", ["atomic", "plain"])
def test_a_process_killed_while_writing_leaves_the_previous_version_latest(tmp_path, mode):
    script = tmp_path / "write.py"
    script.write_text(textwrap.dedent(KILLED_WRITE))
    folder = tmp_path / "data"
    result = subprocess.run([sys.executable, str(script), str(folder), mode], check=False)
    assert result.returncode == -9  # SIGKILL, mid-write

    versions = sorted((folder / "p.json").iterdir())
    assert len(versions) == 2  # the killed save had created its version folder
    latest = JSONDataset(filepath=str(folder / "p.json"), version=Version(None, None))
    if mode == "plain":
        # What atomic saves prevent: the truncated file is the latest version.
        truncated = versions[1] / "p.json"
        assert truncated.stat().st_size > 100_000
        with pytest.raises(DatasetError, match="Expecting|Unterminated|delimiter"):
            latest.load()
    else:
        [hidden] = versions[1].iterdir()  # only the partial file
        assert hidden.name.startswith(".p.json.") and hidden.name.endswith(".partial")
        assert not (versions[1] / "p.json").exists()
        assert latest.load() == {"first": 1}


def test_make_atomic_reaches_the_dataset_an_optional_dataset_wraps(tmp_path):
    optional = OptionalDataset(
        dataset={"type": "json.JSONDataset", "filepath": str(tmp_path / "o.json")}
    )
    assert make_atomic(optional)
    assert isinstance(optional._dataset._fs, AtomicLocalFileSystem)
    optional.save({"b": 2})
    assert optional.load() == {"b": 2}
    assert files_under(tmp_path) == ["o.json"]


class FilesystemRecorder(TextDataset):
    """Saves the name of the filesystem class it writes through, instead of the data."""

    def save(self, data: str) -> None:
        super().save(type(self._fs).__name__)


def produce() -> str:
    return "data"


@pytest.mark.parametrize("runner", [SequentialRunner, ParallelRunner])
def test_a_run_saves_every_node_output_atomically(tmp_path, runner):
    configure_project("session_recs")  # ParallelRunner's workers register settings.HOOKS
    out = tmp_path / "out.txt"
    datasets = {"out": FilesystemRecorder(filepath=str(out))}
    parallel = runner is ParallelRunner
    catalog = SharedMemoryDataCatalog(datasets) if parallel else DataCatalog(datasets)
    hook_manager = _create_hook_manager()
    hook_manager.register(AtomicSavesHooks())
    options = {"max_workers": 1} if parallel else {}
    runner(**options).run(Pipeline([node(produce, None, "out")]), catalog, hook_manager)
    assert out.read_text() == "AtomicLocalFileSystem"


def test_compressed_writes_are_published_whole(tmp_path):
    gzip_args = {"compression": "gzip"}
    dataset = JSONDataset(
        filepath=str(tmp_path / "p.json.gz"),
        version=Version(None, None),
        fs_args={"open_args_save": gzip_args, "open_args_load": gzip_args},
    )
    make_atomic(dataset)
    dataset.save({"many": list(range(1000))})
    [saved] = files_under(tmp_path)
    assert gzip.decompress((tmp_path / saved).read_bytes()).startswith(b'{\n  "many"')
    assert dataset.load() == {"many": list(range(1000))}


@pytest.mark.parametrize("mode", ["w", "wb"])
def test_a_file_dropped_without_closing_publishes_nothing(tmp_path, mode):
    fs = AtomicLocalFileSystem(auto_mkdir=True)

    def write_half() -> None:
        handle = fs.open(str(tmp_path / "f"), mode)
        handle.write("half" if mode == "w" else b"half")
        # ... and the writer fails: the file is never closed.

    write_half()
    gc.collect()
    assert files_under(tmp_path) == []


def test_a_failed_rename_raises_and_leaves_no_partial_file(tmp_path):
    fs = AtomicLocalFileSystem(auto_mkdir=True)
    (tmp_path / "taken").mkdir()  # the target path is a folder: os.replace fails
    with pytest.raises(IsADirectoryError), fs.open(str(tmp_path / "taken"), "wb") as handle:
        handle.write(b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_an_overwritten_file_keeps_its_permissions(tmp_path):
    fs = AtomicLocalFileSystem(auto_mkdir=True)
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    with fs.open(str(script), "w") as handle:
        handle.write("new")
    assert script.read_text() == "new"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750


def test_make_atomic_leaves_datasets_without_a_local_file_alone():
    from kedro.io import MemoryDataset

    assert not make_atomic(MemoryDataset(1))


def test_the_project_registers_the_hook():
    from session_recs.settings import HOOKS

    assert sum(isinstance(hook, AtomicSavesHooks) for hook in HOOKS) == 1


def test_outputs_matched_by_a_dataset_factory_are_atomic_too(tmp_path):
    # The models' catalog entries are factories ("{model}.recommender").
    catalog = DataCatalog.from_config(
        {
            "{model}.recommender": {
                "type": f"{__name__}.FilesystemRecorder",
                "filepath": str(tmp_path / "{model}.txt"),
            }
        }
    )
    hook_manager = _create_hook_manager()
    hook_manager.register(AtomicSavesHooks())
    pipeline = Pipeline([node(produce, None, "recommender")], namespace="markov")
    SequentialRunner().run(pipeline, catalog, hook_manager)
    assert (tmp_path / "markov.txt").read_text() == "AtomicLocalFileSystem"
