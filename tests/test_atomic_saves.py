"""Atomic saves: a killed or failed write never becomes a dataset's latest version."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version
from kedro.pipeline import node
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure

from session_recs.data.atomic import AtomicLocalFileSystem, make_atomic
from session_recs.data.datasets import OptionalDataset
from session_recs.hooks import AtomicSavesHooks

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


def test_the_hook_makes_every_local_output_of_a_node_atomic(tmp_path):
    catalog = DataCatalog.from_config(
        {
            "table": {
                "type": "pandas.ParquetDataset",
                "filepath": str(tmp_path / "t.parquet"),
                "versioned": True,
            },
            "optional": {
                "type": "session_recs.data.datasets.OptionalDataset",
                "dataset": {"type": "json.JSONDataset", "filepath": str(tmp_path / "o.json")},
            },
            "model": {"type": "pickle.PickleDataset", "filepath": str(tmp_path / "m.pkl")},
        }
    )
    outputs = {"table": pd.DataFrame({"a": [1]}), "optional": {"b": 2}, "model": [3]}
    # As the runner does: the hook before the node, then the node's outputs saved.
    produce = node(lambda: tuple(outputs.values()), None, [*outputs, "in_memory"])
    AtomicSavesHooks().before_node_run(node=produce, catalog=catalog)
    for name, data in outputs.items():
        catalog.save(name, data)

    assert isinstance(catalog["table"]._fs, AtomicLocalFileSystem)
    optional = catalog["optional"]
    assert isinstance(optional, OptionalDataset)
    assert isinstance(optional._dataset._fs, AtomicLocalFileSystem)
    assert isinstance(catalog["model"]._fs, AtomicLocalFileSystem)
    assert catalog.load("optional") == {"b": 2}
    assert [p.split("/")[0] for p in files_under(tmp_path)] == ["m.pkl", "o.json", "t.parquet"]


def test_make_atomic_leaves_datasets_without_a_local_file_alone():
    from kedro.io import MemoryDataset

    assert not make_atomic(MemoryDataset(1))


def test_the_project_registers_the_hook():
    from session_recs.settings import HOOKS

    assert sum(isinstance(hook, AtomicSavesHooks) for hook in HOOKS) == 1
