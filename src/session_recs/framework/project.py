"""The project outside a Kedro session: its parameters, its split, a scratch copy of it.

For benchmarks, tests and notebooks that call the library directly but must see exactly
what ``kedro run`` sees: the same configuration files merged the same way, and the split
the ingest → sessionize → split nodes make.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from session_recs.framework.config_loader import ProjectConfigLoader
from session_recs.pipelines.ingest.nodes import ingest_interactions
from session_recs.pipelines.sessionize.nodes import sessionize_interactions
from session_recs.pipelines.split.nodes import split_next_event


def load_parameters(conf_source: str | Path, dataset: str, env: str | None = None) -> dict:
    """``params:`` of a run with ``--params=dataset=<dataset>`` (and ``--env``): the
    defaults, the dataset's block and what its source provides, as ``kedro run`` sees them."""
    from session_recs.settings import CONFIG_LOADER_ARGS

    loader = ProjectConfigLoader(
        str(conf_source), env=env, runtime_params={"dataset": dataset}, **CONFIG_LOADER_ARGS
    )
    return loader["parameters"]


def prepare_split(
    raw: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train_sessions, validation_pairs, test_pairs, test_sessions) of a source's
    interactions (what its dataset loads)."""
    interactions = ingest_interactions(raw)
    sessions, _ = sessionize_interactions(interactions, params["sessionize"])
    return split_next_event(sessions, params["split"])


def copy_project(source: Path, target: Path, raw_files: Iterable[Path] = ()) -> Path:
    """A fresh copy of ``source``'s conf and data layers at ``target``, as after a clone.

    ``raw_files`` are copied into ``data/01_raw`` (kept at their names); no other data is.
    The code stays the installed package, so ``kedro run`` in ``target`` runs it.
    """
    target.mkdir(parents=True)
    shutil.copy(source / "pyproject.toml", target)
    shutil.copytree(source / "conf", target / "conf", ignore=shutil.ignore_patterns("*.log"))
    for layer in sorted(p.name for p in (source / "data").iterdir() if p.is_dir()):
        (target / "data" / layer).mkdir(parents=True)
    for raw in raw_files:
        shutil.copy(raw, target / "data" / "01_raw" / Path(raw).name)
    return target
