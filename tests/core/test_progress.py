"""Progress bars: named after the running model namespace, and plain log lines (at most
one per epoch) when stderr is not a terminal."""

from __future__ import annotations

import logging

from session_recs.core import progress


def test_an_epoch_bar_off_a_terminal_logs_at_most_a_line_per_epoch_named_after_its_namespace(
    monkeypatch, caplog
):
    clock = iter(range(0, 1000, 4))  # every update 4 s after the previous
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with (
        caplog.at_level(logging.INFO, logger="session_recs"),
        progress.labelled("word2vec_ff19_tuned"),
    ):
        bar = progress.progress_bar(20, progress.bar_label("word2vec"))
        for epoch in range(20):
            bar.set_postfix({"recall@10": f"{epoch / 100:.4f}"})
            bar.update(1)
        bar.close()
    lines = [r.getMessage() for r in caplog.records]
    # 20 epochs 4 s apart: the first epoch's line, then one when 10 s have passed since
    # the last (every third epoch), and the last epoch's when the bar closes.
    assert len(lines) == 8
    assert lines[0].startswith("word2vec_ff19_tuned: 1/20 epoch in ")
    assert all(line.startswith("word2vec_ff19_tuned: ") for line in lines)
    assert lines[-1].startswith("word2vec_ff19_tuned: 20/20 epoch in ")
    assert lines[-1].endswith("recall@10=0.1900")
    assert progress.bar_label("word2vec") == "word2vec"  # outside the namespace's node


def test_the_run_hook_names_bars_after_the_running_node_s_namespace():
    from kedro.pipeline import Node

    from session_recs.framework.hooks import ProgressLabelHooks

    def fit(x):
        return x

    hooks = ProgressLabelHooks()
    node = Node(fit, "x", "y", name="fit_recommender", namespace="word2vec_ff19_tuned")
    hooks.before_node_run(node)
    assert progress.bar_label("word2vec") == "word2vec_ff19_tuned"
    hooks.after_node_run()
    assert progress.bar_label("word2vec") == "word2vec"
    hooks.before_node_run(Node(fit, "x", "y", name="report"))  # no namespace: the bar's own
    assert progress.bar_label("word2vec") == "word2vec"
