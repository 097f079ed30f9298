"""Node tags and the pipelines' view of the model namespaces.

The namespaces themselves (which pipeline trains each, which are searchable, the tuned
refits' suffix) are listed once, in :mod:`session_recs.models.registry`; their names are
re-exported here for the pipelines.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from kedro.pipeline import Node, Pipeline

from session_recs.models.registry import (
    BASELINE_MODELS,
    MODEL_NAMESPACES,
    NEURAL_MODELS,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    TUNED_SUFFIX,
    W2V_MODELS,
    pipeline_of,
    refit_of,
    tuned_name,
)

#: Tag of the data pipelines' nodes, which a run brings in when their outputs are missing.
DATA_TAG = "data"
#: Tag of the nodes that train a model from the tune search's best configuration.
SEARCH_TAG = "from_search"


#: Tag of every node of the tune pipeline.
TUNE_TAG = "tune"
#: Tag of the nodes that fit or refit a PyTorch model (the ``neural`` extra).
NEURAL_TAG = "neural"


def searched_by(node: Any) -> str | None:
    """The model whose search ``node`` runs or refits (None: not a search's node). The
    run planning keeps the nodes of the models ``tune.model`` / ``tune.models`` name."""
    namespace = (node.namespace or "").split(".")[0]
    if SEARCH_TAG in node.tags:
        return SEARCHED_MODEL
    if TUNE_TAG not in node.tags:
        return None
    if not namespace:
        return SEARCHED_MODEL
    return refit_of(namespace) or namespace


@contextlib.contextmanager
def reading_other_namespaces() -> Iterator[None]:
    """Build nodes that read another namespace's datasets (a search's ``<model>.
    best_params``, ``<model>.tune_results``) without Kedro's warning about dotted names,
    which is meant for names that are not namespaces."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'", UserWarning)
        yield


def combine(pipelines: Iterable[Pipeline]) -> Pipeline:
    """The sum of ``pipelines``, where nodes of one name that differ in what they read
    (the default pipeline's report, over the models a plain run fits, and the report
    pipeline's, over every model) count once: the one that reads the most. Kedro's own
    ``+`` refuses two nodes of one name."""
    chosen: dict[str, Node] = {}
    for pipeline in pipelines:
        for node in pipeline.nodes:
            kept = chosen.get(node.name)
            if kept is None or len(node.inputs) > len(kept.inputs):
                chosen[node.name] = node
    return Pipeline(list(chosen.values()))


__all__ = [
    "BASELINE_MODELS",
    "DATA_TAG",
    "MODEL_NAMESPACES",
    "NEURAL_MODELS",
    "NEURAL_TAG",
    "SEARCHABLE_MODELS",
    "SEARCHED_MODEL",
    "SEARCH_TAG",
    "TUNED_SUFFIX",
    "TUNE_TAG",
    "W2V_MODELS",
    "combine",
    "pipeline_of",
    "reading_other_namespaces",
    "refit_of",
    "searched_by",
    "tuned_name",
]
