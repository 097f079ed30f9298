"""GRU4Rec and SASRec trained, monitored and evaluated per namespace by SequentialRunner on
the planted sessions (tests/pipelines/conftest.py), with small options; needs PyTorch."""

import pytest

from session_recs.pipelines import train_neural
from session_recs.pipelines.namespaces import NEURAL_MODELS, NEURAL_TAG

from ...conftest import needs_torch
from ...models.test_neural import SMALL
from ..conftest import run_pipeline


@pytest.fixture(scope="module")
def neural_outputs(parameters, split_data) -> dict:
    """Both namespaces run once, with tests/models/test_neural.py's small options."""
    small = {
        name: {"model": {"kind": name, "options": {**SMALL[name], "seed": 0, "progress": False}}}
        for name in NEURAL_MODELS
    }
    return run_pipeline(train_neural.create_pipeline(), {**parameters, **small}, **split_data)


def test_every_node_is_tagged_neural():
    assert all(NEURAL_TAG in node.tags for node in train_neural.create_pipeline().nodes)


@pytest.mark.neural
@needs_torch
@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_each_namespace_fits_records_its_epochs_and_measures_it(neural_outputs, name):
    history = neural_outputs[f"{name}.training_history"]
    assert history["epoch"].tolist() == list(range(1, SMALL[name]["epochs"] + 1))
    assert len(neural_outputs[f"{name}.learning_curve"].axes) >= 1
    metrics = neural_outputs[f"{name}.metrics"]
    assert set(metrics["model_kind"]) == {name}
    assert (metrics.loc[metrics.metric == "recall", "n_queries"] == 60).all()
    recall = metrics[metrics.metric == "recall"].set_index(["context", "k"])["value"]
    for context in ("last_item", "session"):
        assert 0 <= recall[context, 5] <= recall[context, 10] <= recall[context, 20] <= 1
