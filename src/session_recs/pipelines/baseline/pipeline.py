"""Fit and evaluate the non-embedding models, one namespace per model."""

from kedro.pipeline import Pipeline

from session_recs.pipelines.modeling import model_pipelines

#: Each name is a namespace with parameters `<name>.model` in parameters_baseline.yml.
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


def create_pipeline(**kwargs) -> Pipeline:
    """Build the baseline pipeline."""
    return model_pipelines(BASELINE_MODELS)
