"""Word2Vec recommender and its per-epoch monitor on hand-built sessions."""

import numpy as np
import pandas as pd
import pytest
from gensim.models.callbacks import CallbackAny2Vec
from matplotlib.figure import Figure

from session_recs.core.errors import ConfigError
from session_recs.evaluation.next_event import pair_set, summarize
from session_recs.models import build_model
from session_recs.models.epoch_metrics import EpochMetrics, learning_curve_figure
from session_recs.models.word2vec import PRESETS, Word2VecRecommender

from ..conftest import long_sessions

GROUP_A = [f"a{i}" for i in range(5)]
GROUP_B = [f"b{i}" for i in range(5)]
# Small, well-separated problem: fast, and the right answer is unambiguous.
SMALL = {
    "vector_size": 16,
    "window": 5,
    "negative": 5,
    "sample": 0.0,
    "epochs": 15,
    "workers": 1,
    "seed": 0,
    "progress": False,
}


def two_groups(n_sessions: int = 150, seed: int = 0) -> list[list[str]]:
    """Sessions that each shuffle one group's items; the groups never meet."""
    rng = np.random.default_rng(seed)
    groups = (GROUP_A, GROUP_B)
    return [list(rng.permutation(groups[s % 2])) for s in range(n_sessions)]


def pairs(queries: list[str], targets: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": range(len(queries)),
            "query_item": queries,
            "target_item": targets if targets is not None else queries,
        }
    )


def top(model: Word2VecRecommender, item: str, k: int) -> list[str]:
    recs = model.recommend(pair_set(pairs([item]), model.index).queries, k)
    return model.index.decode(recs.items[0]).tolist()


@pytest.fixture(scope="module")
def grouped() -> Word2VecRecommender:
    return Word2VecRecommender(**SMALL).fit(long_sessions(two_groups()))


def test_presets_are_ff19s_settings():
    assert PRESETS["ff19_default"] == {
        "sg": 1,
        "min_count": 1,
        "vector_size": 100,
        "window": 5,
        "negative": 5,
        "ns_exponent": 0.75,
        "alpha": 0.025,
        "min_alpha": 0.0001,
        "sample": 0.001,
        "epochs": 5,
    }
    tuned = PRESETS["ff19_tuned"]
    assert (tuned["window"], tuned["negative"], tuned["ns_exponent"], tuned["epochs"]) == (
        13,
        16,
        0.6,
        100,
    )
    model = Word2VecRecommender("ff19_tuned", window=7)
    assert model.params()["window"] == 7 and model.params()["negative"] == 16


def test_nearest_neighbours_come_from_the_query_items_own_group(grouped):
    for item in GROUP_A + GROUP_B:
        own = GROUP_A if item in GROUP_A else GROUP_B
        assert sorted(top(grouped, item, 4)) == sorted(set(own) - {item}), item


def test_scores_are_one_plus_cosine_and_the_query_item_is_excluded(grouped):
    queries = pair_set(pairs(["a0"]), grouped.index).queries
    scores = grouped.score(queries)[0]
    vectors = np.array([grouped.wv[item] for item in grouped.index.ids])
    a0 = vectors[grouped.index.encode(["a0"])[0]]
    cosine = vectors @ a0 / np.linalg.norm(vectors, axis=1) / np.linalg.norm(a0)
    np.testing.assert_allclose(scores, 1 + cosine, atol=1e-5)
    assert "a0" not in top(grouped, "a0", 9)
    assert len(top(grouped, "a0", 9)) == 9


def test_unknown_query_item_gets_the_most_popular_items():
    # Popularity: a0 > a1 > a2 > the rest.
    sessions = two_groups() + [["a0", "a1", "a2"]] * 10 + [["a0", "a1"]] * 10 + [["a0"]] * 10
    model = Word2VecRecommender(**SMALL).fit(long_sessions(sessions))
    queries = pair_set(pairs(["zzz"]), model.index).queries
    assert not model.score(queries).any()
    assert top(model, "zzz", 3) == ["a0", "a1", "a2"]


def test_session_context_weights_recent_items(grouped):
    # Context a0, a1, b0 (query b0): with equal weights, group A dominates the mean vector;
    # with a steep decay the last item (group B) does.
    context = pd.DataFrame({"session_id": 0, "position": [0, 1, 2], "item_id": ["a0", "a1", "b0"]})
    evaluation = pair_set(pairs(["b0"], ["b1"]), grouped.index, context)
    flat = Word2VecRecommender(context="session", context_window=3, decay=1.0, **SMALL)
    steep = Word2VecRecommender(context="session", context_window=3, decay=0.01, **SMALL)
    for model in (flat, steep):
        model.fit(long_sessions(two_groups()))
    picked = flat.index.decode(flat.recommend(evaluation.queries, 3).items[0])
    assert set(picked) <= set(GROUP_A)
    picked = steep.index.decode(steep.recommend(evaluation.queries, 3).items[0])
    assert set(picked) <= set(GROUP_B)


def test_workers_1_and_a_fixed_seed_give_identical_vectors():
    train = long_sessions(two_groups(seed=3))
    first = Word2VecRecommender(**SMALL).fit(train)
    second = Word2VecRecommender(**SMALL).fit(train)
    np.testing.assert_array_equal(first.wv.vectors, second.wv.vectors)
    third = Word2VecRecommender(**{**SMALL, "seed": 1}).fit(train)
    assert not np.array_equal(first.wv.vectors, third.wv.vectors)


def test_history_has_one_row_per_epoch_and_matches_the_evaluator():
    # a0 and a1 are the most popular; the c items make a catalogue larger than K = 10.
    extra = [["a0", "a1"]] * 5 + [[f"c{i}" for i in range(6)]] * 3
    train = long_sessions(two_groups() + extra)
    validation = pairs(["a0", "b0", "a3", "zzz"], ["a1", "b2", "b4", "a0"])
    model = Word2VecRecommender(**SMALL).fit(train, validation)
    history = model.history
    assert history["epoch"].tolist() == list(range(1, SMALL["epochs"] + 1))
    expected = ["epoch", "loss", "seconds", "recall@10", "mrr@10"]
    assert history.columns.tolist() == [*expected, "eval_seconds"]
    assert history["recall@10"].between(0, 1).all()
    assert (history["loss"] > 0).all() and (history["seconds"] > 0).all()
    # The monitor's last epoch agrees exactly with the project's evaluator on those pairs.
    queries = pair_set(validation, model.index)
    recs = model.recommend(queries.queries, 10)
    table = summarize(recs.items, queries.targets, (10,), model.popularity, n_boot=10)
    values = table.set_index(["metric", "k"])["value"]
    last = history.iloc[-1]
    assert last["recall@10"] == pytest.approx(values["recall", 10])
    assert last["mrr@10"] == pytest.approx(values["mrr", 10])


def test_user_callbacks_run_once_per_epoch_of_train():
    class CountEpochs(CallbackAny2Vec):
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, model):
            self.epochs += 1

    counter = CountEpochs()
    model = Word2VecRecommender(**{**SMALL, "epochs": 7}, callbacks=[counter])
    model.fit(long_sessions(two_groups(40)))
    assert counter.epochs == 7
    assert len(model.history) == 7
    assert model.history[["recall@10", "mrr@10"]].isna().all().all()  # no validation pairs


def test_epoch_metrics_alone_on_the_live_vectors():
    monitor = EpochMetrics(["a0", "b0"], ["a1", "a1"], ks=(4,), progress=False)
    model = Word2VecRecommender(**SMALL, callbacks=[monitor]).fit(long_sessions(two_groups()))
    assert monitor.history["recall@4"].iloc[-1] == 0.5  # a0→a1 hit, b0→a1 miss
    assert model.history["epoch"].tolist() == monitor.history["epoch"].tolist()


def test_bad_options_are_clear_config_errors_before_training():
    with pytest.raises(
        ConfigError, match=r"unknown preset 'ff20'.*\['ff19_default', 'ff19_tuned'\]"
    ):
        Word2VecRecommender("ff20")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['size'\].*'vector_size'"):
        Word2VecRecommender(size=100)
    with pytest.raises(ConfigError, match=r"Unknown option\(s\) \['iter'\]"):
        build_model("word2vec", {"iter": 5})
    with pytest.raises(
        ConfigError, match="word2vec.context = .*: expected 'last_item' or 'session'"
    ):
        Word2VecRecommender(context="basket")
    with pytest.raises(ConfigError, match="needs hs=1 or negative > 0"):
        Word2VecRecommender(negative=0)
    with pytest.raises(
        ConfigError, match="word2vec.window = 0: expected greater than or equal to 1"
    ):
        Word2VecRecommender(window=0)
    with pytest.raises(ConfigError, match="min_count=99 leaves no item"):
        Word2VecRecommender(**{**SMALL, "min_count": 99}).fit(long_sessions(two_groups(10)))
    model = build_model("word2vec", {"preset": None, "window": 3, "seed": 4})
    assert model.params()["sg"] == 0  # gensim's own default: CBOW


def test_learning_curve_figure_plots_metrics_and_loss(grouped):
    figure = learning_curve_figure(grouped.history)
    assert isinstance(figure, Figure)
    _, loss = figure.axes
    assert [line.get_label() for line in loss.get_lines()] == ["loss"]
    assert len(loss.get_lines()[0].get_xdata()) == SMALL["epochs"]
    assert isinstance(learning_curve_figure(pd.DataFrame()), Figure)


def test_the_written_gensim_defaults_are_gensims_own():
    """word2vec.GENSIM_DEFAULTS (the preset=None base, written out so that checking a run's
    options does not import gensim) equals gensim's Word2Vec signature."""
    import inspect

    from gensim.models import Word2Vec

    from session_recs.models.word2vec import GENSIM_DEFAULTS, GENSIM_PARAMS

    parameters = inspect.signature(Word2Vec.__init__).parameters
    assert {name: parameters[name].default for name in GENSIM_PARAMS} == GENSIM_DEFAULTS


def test_checking_a_runs_model_options_does_not_import_gensim():
    """Every run builds each model namespace's model to check its options; gensim (about a
    second to import) is left for the runs that train or load a Word2Vec."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from session_recs.models import build_model\n"
        "from session_recs.pipelines.train_w2v import pipeline\n"
        "model = build_model('word2vec', {'preset': 'ff19_tuned', 'window': 7})\n"
        "assert model.gensim_params['window'] == 7\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gensim'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def test_the_streamed_corpus_trains_what_a_list_of_sessions_trains():
    """The sessions reach gensim one at a time (SessionCorpus), in the order a list of
    every session's tokens would, so a seeded one-worker fit gives the same vectors."""
    from gensim.models import Word2Vec

    from session_recs.models.base import SessionData
    from session_recs.models.word2vec import SessionCorpus

    sessions = two_groups(seed=4) + [["a0", "b0", "a1"]] * 3
    train = long_sessions(sessions)
    model = Word2VecRecommender(**SMALL).fit(train)
    index = model.fitted_index()
    corpus = SessionCorpus(
        np.array([str(i) for i in index.ids], dtype=object), SessionData.from_long(train, index)
    )
    assert list(corpus) == list(corpus) == sessions  # restartable, every session in order
    params = {**model.gensim_params, "seed": 0, "workers": 1}
    listed = Word2Vec(**params)
    listed.build_vocab(sessions)
    listed.train(sessions, total_examples=listed.corpus_count, epochs=listed.epochs)
    assert model.wv.index_to_key == listed.wv.index_to_key
    np.testing.assert_array_equal(model.wv.vectors, listed.wv.vectors)
