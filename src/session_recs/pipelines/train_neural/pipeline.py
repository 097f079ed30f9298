"""Train, monitor and evaluate the PyTorch models (GRU4Rec, SASRec), one namespace each.

The same fit → evaluate template as every model, plus train_w2v's training history and
learning curve. Its nodes are tagged ``neural``: without PyTorch (the ``neural`` extra)
the run planning leaves them out in one line saying how to install it.
"""

from kedro.pipeline import Pipeline

from session_recs.pipelines.modeling import evaluate_node, fit_node, model_pipelines
from session_recs.pipelines.namespaces import NEURAL_MODELS, NEURAL_TAG
from session_recs.pipelines.train_w2v.pipeline import monitoring_nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Build the train_neural pipeline."""

    def template(name: str) -> Pipeline:
        return Pipeline([fit_node(), evaluate_node()]) + monitoring_nodes(name)

    return Pipeline(model_pipelines(NEURAL_MODELS, template), tags=[NEURAL_TAG])
