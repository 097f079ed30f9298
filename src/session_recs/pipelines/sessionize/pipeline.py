"""interactions → sessions, sessionize_log, item_catalog."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_item_catalog, sessionize_interactions


def create_pipeline(**kwargs) -> Pipeline:
    """Build the sessionize pipeline."""
    return Pipeline(
        [
            Node(
                sessionize_interactions,
                inputs=["interactions", "params:sessionize"],
                outputs=["sessions", "sessionize_log"],
                name="sessionize_interactions",
                tags=["data"],
            ),
            Node(
                build_item_catalog,
                inputs=["interactions", "sessions"],
                outputs="item_catalog",
                name="build_item_catalog",
                tags=["data"],
            ),
        ]
    )
