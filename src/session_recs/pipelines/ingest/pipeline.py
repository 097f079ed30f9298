"""raw_interactions → interactions."""

from kedro.pipeline import Node, Pipeline

from .nodes import ingest_interactions


def create_pipeline(**kwargs) -> Pipeline:
    """Build the ingest pipeline."""
    return Pipeline(
        [
            Node(
                ingest_interactions,
                inputs="raw_interactions",
                outputs="interactions",
                name="ingest_interactions",
                tags=["data"],
            )
        ]
    )
