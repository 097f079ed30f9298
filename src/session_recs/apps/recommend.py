"""Recommendations on demand from a trained model, loaded through the project's catalog.

:func:`recommend_items` is what ``python -m session_recs recommend`` (and ``kedro
recommend``) prints; in a notebook started with ``%load_ext kedro.ipython`` it works the
same way (``recommend_items(["85123A", "22423"], model="session_knn")``), and
:func:`top_items` answers from a model already loaded (``catalog.load(...)``).

The query items are one session in order. Models that read the session (``uses_context``)
see all of its known items; the others see the last known one. Unknown items are dropped
with a warning; if none is known, nothing can be recommended.

Before the table, one log line says what answered (:func:`provenance`): the model, the
version it loaded, the dataset, and the options in which it differs from what conf/ gives
its namespace now (a model trained by a one-off ``--params`` run says so).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from session_recs.core.errors import ConfigError, DataValidationError, SessionRecsError
from session_recs.models import ModelSpec, effective_options
from session_recs.models.base import QueryBatch, Recommender, SessionData
from session_recs.models.state import ModelFileError
from session_recs.pipelines.namespaces import (
    MODEL_NAMESPACES,
    SEARCHED_MODEL,
    pipeline_of,
    refit_of,
)

logger = logging.getLogger(__name__)

COLUMNS = ["rank", "item_id", "description", "score"]


def training_command(model: str, dataset: str) -> str:
    """The ``kedro run`` command that trains ``model`` on ``dataset``."""
    data = f" --params=dataset={dataset}"
    if model == SEARCHED_MODEL:
        return f"kedro run --pipeline=tune{data}"
    if pipeline_of(model) == "tune":  # <model>_tuned: the search of <model> refits it
        searched = refit_of(model)
        return f"kedro run --pipeline=tune --params=tune.model={searched},dataset={dataset}"
    return f"kedro run --pipelines={pipeline_of(model)} --namespaces={model}{data}"


def check_k(k: Any) -> int:
    """``k`` as a positive int, or a ConfigError saying what was wrong."""
    try:
        value = int(str(k).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"-k must be a positive whole number of items, got {k!r}.")
    return value


def session_query(model: Recommender, items: Sequence[str]) -> QueryBatch:
    """One query: the known ``items`` in order (context) ending with the last of them.

    Unknown items are dropped with a warning; a DataValidationError lists them when none
    is known.
    """
    index = model.fitted_index()
    codes = index.encode([str(item) for item in items])
    unknown = [str(item) for item, code in zip(items, codes, strict=True) if code < 0]
    if len(unknown) == len(codes):
        raise DataValidationError(
            f"None of the items {unknown} is known to {model.name} (it was trained on "
            f"{len(index):,} items). Check the ids against the item_catalog dataset."
        )
    if unknown:
        logger.warning("Ignoring item(s) unknown to %s: %s", model.name, ", ".join(unknown))
    known = codes[codes >= 0]
    if not model.uses_context:
        known = known[-1:]
    context = SessionData(known, np.array([0]), np.array([len(known)]))
    return QueryBatch(known[-1:], context)


def top_items(
    model: Recommender,
    items: Sequence[str],
    k: int,
    item_catalog: pd.DataFrame | None = None,
    *,
    exclude_query: bool = True,
) -> pd.DataFrame:
    """Top-``k`` items for one session of ``items`` (rank, item_id, description, score).

    A score of 0 marks an item backfilled by popularity (the model had no evidence).
    """
    recs = model.recommend(session_query(model, items), check_k(k), exclude_query=exclude_query)
    ids = model.fitted_index().decode(recs.items[0])
    table = pd.DataFrame(
        {"rank": np.arange(1, len(ids) + 1), "item_id": ids, "score": recs.scores[0]}
    )
    descriptions: Mapping[str, Any] = {}
    if item_catalog is not None and "description" in item_catalog:
        descriptions = item_catalog.set_index("item_id")["description"].to_dict()
    table["description"] = [
        text if isinstance(text := descriptions.get(item), str) else "" for item in ids
    ]
    return table[COLUMNS]


def recommend_items(
    items: Sequence[str],
    model: str = "session_knn",
    k: int = 10,
    *,
    dataset: str | None = None,
    project_path: str | Path | None = None,
    env: str | None = None,
    load_version: str | None = None,
    params: Mapping[str, Any] | None = None,
    exclude_query: bool = True,
) -> pd.DataFrame:
    """Top-``k`` recommendations of the latest saved ``<model>.recommender`` of ``dataset``.

    The model and the ``item_catalog`` (for descriptions) are loaded through a
    KedroSession of the project at ``project_path`` (default: the current directory),
    with ``env`` and runtime ``params`` as for ``kedro run``; ``dataset`` defaults to
    the project's ``dataset`` parameter. ``load_version`` picks an older model version.
    The table's ``attrs`` hold the model, dataset and version used.
    """
    import kedro.framework.project as kedro_project
    from kedro.framework.session import KedroSession

    from session_recs.framework.hooks import check_recommender

    if model not in MODEL_NAMESPACES:
        raise ConfigError(f"Unknown model {model!r}; known models: {', '.join(MODEL_NAMESPACES)}.")
    k = check_k(k)
    if not items:
        raise ConfigError("Give at least one item id (the session so far, in order).")
    runtime = dict(params or {})
    if dataset is not None:
        runtime["dataset"] = dataset
    path = Path(project_path or Path.cwd()).resolve()
    if kedro_project.PACKAGE_NAME is None:  # not yet set up by `kedro`, -m or kedro.ipython
        kedro_project.configure_project(__name__.split(".")[0])
    # Entered as itself: the `with` would type it as Kedro's abstract session.
    session = KedroSession.create(project_path=path, env=env, runtime_params=runtime)
    with session:
        context = session.load_context()
        dataset = context.params["dataset"]
        catalog = context.catalog
        recommender = load_model(catalog, model, dataset, load_version)
        check_recommender(f"{model}.recommender", recommender, catalog)
        item_catalog = catalog.load("item_catalog") if catalog.exists("item_catalog") else None
        version = load_version or latest_version(catalog, model)
        answered_by = provenance(recommender, model, dataset, version, context.params)
    logger.info(answered_by)
    table = top_items(recommender, items, k, item_catalog, exclude_query=exclude_query)
    table.attrs.update(model=model, dataset=dataset, version=version, provenance=answered_by)
    return table


def provenance(
    recommender: Recommender,
    model: str,
    dataset: str,
    version: str | None,
    params: Mapping[str, Any],
) -> str:
    """One line: the model, its version and dataset, and how its options compare with the
    ones ``params`` (the project's conf now) gives the namespace ``model``."""
    note = options_note(recommender, model, params)
    return f"{model} {version or 'unversioned'} (dataset {dataset}): {note}"


_UNSET = object()


def _shown(value: Any) -> str:
    return "unset" if value is _UNSET else str(value)


def options_note(recommender: Recommender, model: str, params: Mapping[str, Any]) -> str:
    """How the fitted ``recommender``'s kind and options compare with conf's for ``model``
    (a ``<model>_tuned`` refit and ``word2vec_search`` against the searched model's conf)."""
    built = getattr(recommender, "built_from", None)
    if built is None:
        return "options not recorded (saved by an older session-recs; retrain to record them)"
    searched = model == SEARCHED_MODEL or refit_of(model) is not None
    conf_model = refit_of(model) or model
    where = "conf" if conf_model == model else f"{conf_model}'s conf"
    spec = (params.get(conf_model) or {}).get("model")
    if not spec:
        return f"options not compared (conf has no {conf_model}.model)"
    try:
        spec = ModelSpec.model_validate(spec)
        configured = effective_options(spec.kind, spec.options)
    except SessionRecsError as err:
        return f"options not compared ({conf_model}.model in conf: {err})"
    prefix = "options chosen by a tune search; " if searched else ""
    if built["kind"] != spec.kind:
        return f"{prefix}kind {built['kind']} (conf: {spec.kind})"
    saved = built["options"]
    differ = [
        f"{name}={_shown(saved.get(name, _UNSET))} (conf: {_shown(configured.get(name, _UNSET))})"
        for name in [*saved, *(name for name in configured if name not in saved)]
        if saved.get(name, _UNSET) != configured.get(name, _UNSET)
    ]
    if not differ:
        return f"{prefix}options as in {where}"
    return f"{prefix}options differ from {where}: {', '.join(differ)}"


def load_model(catalog: Any, model: str, dataset: str, version: str | None) -> Recommender:
    """``<model>.recommender`` from ``catalog`` (the latest, or ``version``)."""
    name = f"{model}.recommender"
    if version is None and not catalog.exists(name):
        # An older session-recs saved pickles beside it (<model>.pkl/): no longer loaded.
        pickled = Path(str(getattr(catalog.get(name), "_filepath", ""))).with_suffix(".pkl")
        old = f" ({pickled} holds an older session-recs' pickles, not loaded)"
        raise ConfigError(
            f"No trained {model} model for dataset {dataset!r} yet{old if pickled.exists() else ''}"
            f". Train it with `{training_command(model, dataset)}` (after the data pipelines; "
            f"`kedro run --params=dataset={dataset}` runs everything)."
        )
    try:
        return catalog.load(name, version=version)
    except Exception as exc:
        cause = exc.__cause__ or exc
        found: BaseException | None = exc
        while found is not None and not isinstance(found, ModelFileError):
            found = found.__cause__ or found.__context__
        cause = found or cause
        if isinstance(cause, ModelFileError):  # names its file; the command is known here
            raise DataValidationError(
                f"The {'latest ' if version is None else ''}saved {name} for dataset "
                f"{dataset!r} ({cause.where}) cannot be read: {cause.reason}; retrain it with "
                f"`{training_command(model, dataset)}`"
                + (", or pick an older version with --load-version." if version is None else ".")
            ) from exc
        if version is None:
            detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            raise DataValidationError(
                f"The latest saved {name} for dataset {dataset!r} (version "
                f"{latest_version(catalog, model)}) cannot be read ({type(cause).__name__}"
                f"{': ' + detail[:120] if detail else ''}): retrain it with "
                f"`{training_command(model, dataset)}`, or pick an older version with "
                "--load-version."
            ) from exc
        # No public accessor for a dataset's folder (kedro-datasets keeps `_filepath`
        # private); tests/apps/test_recommend.py pins this message.
        raise ConfigError(
            f"Cannot load version {version!r} of {name} for dataset {dataset!r}: the saved "
            f"versions are the folder names under {catalog.get(name)._filepath}."
        ) from exc


def latest_version(catalog: Any, model: str) -> str | None:
    """The version string of the newest saved ``<model>.recommender``."""
    try:
        return catalog.get(f"{model}.recommender").resolve_load_version()
    except Exception:
        return None
