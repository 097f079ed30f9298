"""sessions → train_sessions, validation_pairs, test_pairs, test_sessions; dataset_profile."""

from kedro.pipeline import Node, Pipeline

from .nodes import profile_split_dataset, split_next_event


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
            ),
            Node(
                profile_split_dataset,
                inputs=[
                    "sessions",
                    "train_sessions",
                    "test_pairs",
                    "test_sessions",
                    "sessionize_log",
                    "params:split",
                    "params:evaluation.exclude_query",
                ],
                outputs="dataset_profile",
                name="profile_split_dataset",
                tags=["data", "report"],
            ),
        ]
    )
