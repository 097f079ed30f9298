"""Fit and evaluate the non-embedding models, one namespace per model."""

from kedro.pipeline import Pipeline

from session_recs.pipelines.modeling import model_pipelines
from session_recs.pipelines.namespaces import BASELINE_MODELS


def create_pipeline(**kwargs) -> Pipeline:
    """Build the baseline pipeline."""
    return model_pipelines(BASELINE_MODELS)
