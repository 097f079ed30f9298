"""sessions → train_sessions, validation_pairs, test_pairs, test_sessions."""

from kedro.pipeline import Node, Pipeline

from .nodes import split_next_event


def create_pipeline(**kwargs) -> Pipeline:
    """Build the split pipeline."""
    return Pipeline(
        [
            Node(
                split_next_event,
                inputs=["sessions", "params:split"],
                outputs=["train_sessions", "validation_pairs", "test_pairs", "test_sessions"],
                name="split_next_event",
                tags=["data"],
            )
        ]
    )
