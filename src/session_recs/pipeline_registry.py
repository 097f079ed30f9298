"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from session_recs.pipelines.train_w2v.pipeline import searched_model_pipeline

# Pipelines too costly for a plain `kedro run`; they run when named with --pipelines.
EXPENSIVE_PIPELINES = ("tune",)
#: The workflow's order, in which kedro-viz and `kedro registry list` show the pipelines.
WORKFLOW = (
    "ingest",
    "sessionize",
    "split",
    "baseline",
    "train_w2v",
    "train_neural",
    "tune",
    "report",
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline package; ``__default__`` is their sum minus the expensive ones.

    ``tune`` ends by training ``word2vec_search`` from the search's best configuration;
    that model needs a search, so it is not part of the default run either (it is part of
    ``train_w2v`` for ``kedro run --pipelines=train_w2v --namespaces=word2vec_search``).
    """
    # With `--pipelines=a,b` Kedro 1.7 finds only those, so any pipeline may be missing.
    pipelines = find_pipelines(raise_errors=True)
    searched = searched_model_pipeline()
    if "tune" in pipelines:
        pipelines["tune"] = pipelines["tune"] + searched
    everything = sum(pipelines.values(), Pipeline([]))
    expensive = sum(
        (pipelines[name] for name in EXPENSIVE_PIPELINES if name in pipelines), searched
    )
    default = everything - expensive
    rank = {name: at for at, name in enumerate(WORKFLOW)}
    names = [name for name in pipelines if name != "__default__"]  # find_pipelines adds one
    ordered = sorted(names, key=lambda name: (rank.get(name, len(rank)), name))
    return {"__default__": default, **{name: pipelines[name] for name in ordered}}
