"""The model namespaces and node tags: the one list the pipelines, the report, the run
planning and ``recommend`` all read.

A model is a namespace of the ``baseline``, ``train_w2v`` or ``train_neural`` pipeline with
parameters ``<name>.model`` (``kind`` + ``options``); adding one is a name here plus its
parameters.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

#: Namespaces of the baseline pipeline (parameters_baseline.yml).
BASELINE_MODELS = (
    "most_popular",
    "association_rules_ff19",
    "association_rules",
    "markov",
    "sequential_rules",
    "sequential_rules_plus",
    "item_knn",
    "session_knn",
    "stan",
    "vstan",
)
#: Namespaces of the train_w2v pipeline (parameters_train_w2v.yml).
W2V_MODELS = ("word2vec_ff19_default", "word2vec_ff19_tuned")
#: Namespaces of the train_neural pipeline (parameters_neural.yml): PyTorch models, which
#: need the ``neural`` extra; without it a run leaves them out in one line.
NEURAL_MODELS = ("gru4rec", "sasrec")
#: The namespace trained from the tune pipeline's `best_w2v_params`.
SEARCHED_MODEL = "word2vec_search"
#: The models a tune search may search (``tune.model`` / ``tune.models``); the search of
#: ``word2vec_search`` is FF19's (outputs ``tune_results``, ``best_w2v_params``), every
#: other model ``<model>``'s writes ``<model>.tune_results``, ``<model>.best_params`` and
#: refits the best as ``<model>_tuned``.
SEARCHABLE_MODELS = (
    *(m for m in BASELINE_MODELS if m != "most_popular"),
    *W2V_MODELS,
    *NEURAL_MODELS,
)
TUNED_SUFFIX = "_tuned"
#: Every model, in the report's order: each searchable one followed by its tuned refit.
MODEL_NAMESPACES = (
    *(
        name
        for model in (*BASELINE_MODELS, *W2V_MODELS, *NEURAL_MODELS)
        for name in ((model, f"{model}{TUNED_SUFFIX}") if model in SEARCHABLE_MODELS else (model,))
    ),
    SEARCHED_MODEL,
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
    return namespace.removesuffix(TUNED_SUFFIX) if namespace.endswith(TUNED_SUFFIX) else namespace


def tuned_name(model: str) -> str:
    """The namespace the best configuration of ``model``'s search is refitted as."""
    return model if model == SEARCHED_MODEL else f"{model}{TUNED_SUFFIX}"


def pipeline_of(model: str) -> str:
    """The pipeline that trains ``model``."""
    if model.endswith(TUNED_SUFFIX) and model.removesuffix(TUNED_SUFFIX) in SEARCHABLE_MODELS:
        return "tune"
    if model in NEURAL_MODELS:
        return "train_neural"
    return "baseline" if model in BASELINE_MODELS else "train_w2v"


@contextlib.contextmanager
def reading_other_namespaces() -> Iterator[None]:
    """Build nodes that read another namespace's datasets (a search's ``<model>.
    best_params``, ``<model>.tune_results``) without Kedro's warning about dotted names,
    which is meant for names that are not namespaces."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'", UserWarning)
        yield
