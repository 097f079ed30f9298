"""The baseline pipeline."""

from .pipeline import BASELINE_MODELS, create_pipeline

__all__ = ["BASELINE_MODELS", "create_pipeline"]
