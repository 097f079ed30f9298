"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from session_recs.pipelines.namespaces import MODEL_NAMESPACES, combine
from session_recs.pipelines.report.pipeline import create_pipeline as full_report
from session_recs.pipelines.report.pipeline import report_pipeline
from session_recs.pipelines.train_w2v.pipeline import searched_model_pipeline

#: Pipelines a plain `kedro run` leaves out: tune (costly, run by name), train_neural (it
#: needs the `neural` extra: `kedro run --pipelines=train_neural`) and report, whose
#: default counterpart reports the models a plain run fits.
NOT_DEFAULT = ("tune", "train_neural", "report")
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


def default_pipeline(pipelines: dict[str, Pipeline]) -> Pipeline:
    """What a plain ``kedro run`` makes: the data pipelines, the models that need no search
    and no extra, and the report over those models only (so every dataset it shows is one
    the run makes or a source it reads)."""
    fitted = (
        combine(
            pipe for name, pipe in pipelines.items() if name not in (*NOT_DEFAULT, "__default__")
        )
        - searched_model_pipeline()
    )
    if "report" not in pipelines:
        return fitted
    made = fitted.all_outputs()
    models = [model for model in MODEL_NAMESPACES if f"{model}.metrics" in made]
    return fitted + report_pipeline(models)


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline package; ``__default__`` is :func:`default_pipeline`.

    ``tune`` holds the searches, their outputs, the tuned refits (``<model>_tuned``) and
    ``word2vec_search``, which trains FF19's search's best configuration (also part of
    ``train_w2v``, for ``kedro run --pipelines=train_w2v --namespaces=word2vec_search``),
    and ends with the report over every model (the same nodes as ``report``).
    """
    # With `--pipelines=a,b` Kedro 1.7 finds only those, so any pipeline may be missing.
    pipelines = find_pipelines(raise_errors=True)
    if "tune" in pipelines:
        pipelines["tune"] = pipelines["tune"] + searched_model_pipeline() + full_report()
    default = default_pipeline(pipelines)
    rank = {name: at for at, name in enumerate(WORKFLOW)}
    names = [name for name in pipelines if name != "__default__"]  # find_pipelines adds one
    ordered = sorted(names, key=lambda name: (rank.get(name, len(rank)), name))
    return {"__default__": default, **{name: pipelines[name] for name in ordered}}
