"""The model namespaces and node tags: the one list the pipelines, the report, the run
planning and ``recommend`` all read.

A model is a namespace of the ``baseline`` or ``train_w2v`` pipeline with parameters
``<name>.model`` (``kind`` + ``options``); adding one is a name here plus its parameters.
"""

from __future__ import annotations

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
)
#: Namespaces of the train_w2v pipeline (parameters_train_w2v.yml).
W2V_MODELS = ("word2vec_ff19_default", "word2vec_ff19_tuned")
#: The namespace trained from the tune pipeline's `best_w2v_params`.
SEARCHED_MODEL = "word2vec_search"
#: Every model, in the report's order.
MODEL_NAMESPACES = (*BASELINE_MODELS, *W2V_MODELS, SEARCHED_MODEL)

#: Tag of the data pipelines' nodes, which a run brings in when their outputs are missing.
DATA_TAG = "data"
#: Tag of the nodes that train a model from the tune search's best configuration.
SEARCH_TAG = "from_search"


def pipeline_of(model: str) -> str:
    """The pipeline that trains ``model``."""
    return "baseline" if model in BASELINE_MODELS else "train_w2v"
