"""The train_w2v pipeline."""

from .pipeline import W2V_MODELS, create_pipeline

__all__ = ["W2V_MODELS", "create_pipeline"]
