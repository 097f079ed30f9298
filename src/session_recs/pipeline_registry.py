"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Pipelines too costly for a plain `kedro run`; they run when named with --pipelines.
EXPENSIVE_PIPELINES = ("tune",)


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline package; ``__default__`` is their sum minus the expensive ones."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipe for name, pipe in pipelines.items() if name not in EXPENSIVE_PIPELINES),
        Pipeline([]),
    )
    return pipelines
