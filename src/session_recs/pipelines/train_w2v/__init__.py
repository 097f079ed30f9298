"""The train_w2v pipeline."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
