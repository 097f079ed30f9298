"""The parameters of a run: defaults, the dataset's block, the source's defaults, --params."""

from __future__ import annotations

import pytest

from session_recs.core.errors import ConfigError
from session_recs.data.defaults import SourceShape, infer_settings
from session_recs.framework.config_loader import effective_parameters, source_shape
from session_recs.framework.project import load_parameters

from ..conftest import ROOT

DEFAULTS = {
    "dataset": "mine",
    "sessionize": {"order": "auto", "min_session_length": 2},
    "split": {"strategy": "auto", "test_size": "auto", "seed": 123},
    "evaluation": {
        "ks": [5, 10, 20],
        "protocols": "auto",
        "contexts": "auto",
        "exclude_query": "auto",
        "unknown_targets": "auto",
    },
    "report": {"k": "auto"},
}
PAIR = {
    "type": "session_recs.framework.datasets.InteractionsDataset",
    "train": "a",
    "test": "b",
    "columns": {"session_key": "s", "item_id": "i", "timestamp": "t"},
}


def test_train_and_test_files_choose_session_recs_protocol():
    params, choices = effective_parameters(DEFAULTS, {}, PAIR)
    assert params["split"]["strategy"] == "predefined"
    assert params["evaluation"]["protocols"] == ["iterative_revealing"]
    assert params["evaluation"]["contexts"] == ["session"]
    # session-rec's loader drops test items never seen in training; whether the query item
    # may come back is decided from the training sessions (session_recs.evaluation.provenance).
    assert params["evaluation"]["unknown_targets"] == "drop"
    assert params["evaluation"]["exclude_query"] == "auto"
    assert params["report"]["k"] == 20
    assert params["sessionize"]["order"] == "time"
    assert params["split"]["test_size"] == "auto"  # resolved by the split, from the data
    assert {choice.key for choice in choices} == {
        "sessionize.order",
        "split.strategy",
        "evaluation.protocols",
        "evaluation.contexts",
        "evaluation.unknown_targets",
        "report.k",
    }


def test_the_block_beats_the_defaults_and_params_beat_the_block():
    blocks = {
        "datasets": {
            "mine": {"split": {"strategy": "ff19", "seed": 1}},
            "other": {"split": {"seed": 99}},
        }
    }
    params, choices = effective_parameters({**DEFAULTS, **blocks}, {"split": {"seed": 2}}, PAIR)
    assert params["split"] == {"strategy": "ff19", "test_size": "auto", "seed": 2}
    assert "datasets" not in params  # only the chosen block reaches the nodes
    [strategy] = [choice for choice in choices if choice.key == "split.strategy"]
    assert strategy.reason == "set explicitly in datasets.mine"
    params, choices = effective_parameters(DEFAULTS, {"split": {"strategy": "temporal"}}, PAIR)
    [strategy] = [choice for choice in choices if choice.key == "split.strategy"]
    assert (strategy.value, strategy.reason) == ("temporal", "set explicitly in --params")


@pytest.mark.parametrize(
    ("shape", "order", "strategy"),
    [
        (SourceShape(), "file", "ff19"),
        (SourceShape(timestamps=True), "time", "temporal"),
        (SourceShape(timestamps=True, order_column=True), "column", "temporal"),
        (SourceShape(predefined_split=True), "file", "predefined"),
    ],
)
def test_each_shape_has_its_defaults(shape, order, strategy):
    values = {choice.key: choice.value for choice in infer_settings(shape)}
    assert (values["sessionize.order"], values["split.strategy"]) == (order, strategy)


def test_other_kedro_datasets_infer_nothing():
    assert source_shape({"type": "pandas.CSVDataset", "filepath": "x.csv"}) == SourceShape()
    assert source_shape(None) == SourceShape()


def test_report_k_must_be_measured():
    with pytest.raises(ConfigError, match=r"report.k = 7: expected one of evaluation.ks"):
        effective_parameters(DEFAULTS, {"report": {"k": 7}}, PAIR)


def test_the_projects_datasets_get_their_published_protocols():
    retail = load_parameters(ROOT / "conf", "online_retail")
    assert (
        retail["sessionize"]["order"] == "file" and retail["sessionize"]["min_session_length"] == 3
    )
    assert retail["split"]["strategy"] == "ff19" and retail["split"]["test_size"] == 1000
    assert retail["session_knn"]["model"]["options"]["m"] == 2
    assert retail["report"]["k"] == 10 and retail["report"]["references"]["models"]
    rsc15 = load_parameters(ROOT / "conf", "rsc15_100k")
    assert rsc15["split"]["strategy"] == "predefined"
    assert rsc15["evaluation"]["protocols"] == ["iterative_revealing", "last_pair"]
    assert rsc15["report"]["k"] == 20 and rsc15["evaluation"]["exclude_query"] == "auto"
    assert rsc15["evaluation"]["unknown_targets"] == "drop"
    # FF19 ranks with gensim's most_similar: the query item never comes back.
    assert retail["evaluation"]["exclude_query"] is True
    assert retail["evaluation"]["unknown_targets"] == "keep"
    demo = load_parameters(ROOT / "conf", "demo")
    assert demo["word2vec_ff19_tuned"]["model"]["options"]["epochs"] == 20
    assert demo["split"]["test_size"] == 150
    aotm = load_parameters(ROOT / "conf", "aotm")
    assert aotm["sessionize"]["order"] == "file" and aotm["split"]["strategy"] == "ff19"
