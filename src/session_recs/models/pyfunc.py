"""A fitted recommender as an MLflow pyfunc model, for ``mlflow models serve``.

The model's input is one row per session: ``items``, the session's item ids in order.
Its output is one row per session: ``items`` (the top-K item ids, best first),
``scores`` (their scores; 0 marks an item backfilled by popularity), ``ignored`` (the
session's items the model does not know), and what answered: ``model`` (the model's
namespace) and ``version`` (its saved version, the folder name of the versioned model
file; else the MLflow run it was logged to). The parameters ``k`` (default 10) and
``exclude_query`` (default true) come with the request::

    mlflow models serve -m runs:/<model run id>/model --env-manager local --host 127.0.0.1
    curl -s 127.0.0.1:5000/invocations -H 'Content-Type: application/json' -d '
      {"dataframe_records": [{"items": ["85123A", "71053"]}], "params": {"k": 5}}'

A whole request is answered in one call of the recommender's batched ``recommend``.
A request it cannot answer (a session that is empty or has no known item, ``k`` outside
1 to the number of items) gets HTTP 400 with a one-line message naming the session's
row and what was expected; MLflow's server answers malformed JSON and parameters of the
wrong type the same way, and the loaded model makes it refuse an undeclared parameter
and JSON nested too deeply too (:func:`_strict_requests`).

:func:`log_model` logs one (tracking logs every model a tracked run fits);
:func:`save_model` writes one to a folder. The MLflow model holds the recommender's own
file (:mod:`session_recs.models.state`: arrays and plain values) as its artifact, and the
pyfunc class as code (``served_model.py``, MLflow's models-from-code): loading it unpickles
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from session_recs.models.base import QueryBatch, Recommender, SessionData
from session_recs.models.state import read_model

DEFAULT_K = 10
#: What answered, in every row of a served model's answer.
IDENTITY = ("model", "version")
#: The packages a served model needs besides session-recs (which the model carries as
#: code): what ``--env-manager virtualenv`` installs. ``local`` uses this environment.
REQUIREMENTS = ("numpy", "pandas", "scipy", "mlflow")
#: And those of the module that defines the model's class.
EXTRA_REQUIREMENTS = {
    "session_recs.models.word2vec": ("gensim",),
    "session_recs.models.neural": ("torch",),
}


class ServingError(ValueError):
    """A request the model cannot answer, in the requester's terms."""


def session_batch(
    model: Recommender, sessions: Sequence[Sequence[Any]]
) -> tuple[QueryBatch, list[list[str]]]:
    """One query per session (its known items, ending with the last known one) and the
    items of each session that the model does not know; the request's items are looked
    up in one call.

    A ServingError names the first session that is empty or has no known item.
    """
    index = model.fitted_index()
    rows = [_as_items(row, session) for row, session in enumerate(sessions)]
    for row, items in enumerate(rows):
        if not items:
            raise ServingError(f"session {row}: `items` is empty; expected at least one item id.")
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = [item for items in rows for item in items]
    codes = index.encode(flat) if flat else np.empty(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(rows)), lengths)
    known = codes >= 0
    hits = np.bincount(owner[known], minlength=len(rows))
    if (hits == 0).any():
        row = int(np.flatnonzero(hits == 0)[0])
        raise ServingError(
            f"session {row}: none of its items {rows[row][:5]} is known to {model.name} "
            f"(trained on {len(index):,} items)."
        )
    ignored: list[list[str]] = [[] for _ in rows]
    for at in np.flatnonzero(~known):
        ignored[owner[at]].append(flat[at])
    if not model.uses_context:  # the last known item of each session
        last = np.zeros(len(rows), dtype=np.int64)
        np.maximum.at(last, owner[known], np.flatnonzero(known))
        known = np.zeros(len(codes), dtype=bool)
        known[last] = True
    kept, owner = codes[known], owner[known]
    stops = np.cumsum(np.bincount(owner, minlength=len(rows)), dtype=np.int64)
    starts = stops - np.bincount(owner, minlength=len(rows))
    return QueryBatch(kept[stops - 1], SessionData(kept, starts, stops)), ignored


def _as_items(row: int, items: Any) -> list[str]:
    if isinstance(items, str) or not isinstance(items, Sequence | np.ndarray):
        raise ServingError(
            f"session {row}: `items` must be a list of item ids, got {type(items).__name__} "
            f"{items!r:.60}."
        )
    return [str(item) for item in items]


def check_k(model: Recommender, k: Any, exclude_query: bool) -> int:
    """``k`` as an int between 1 and the items the model can recommend, else ServingError."""
    most = len(model.fitted_index()) - (1 if exclude_query else 0)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= most:
        raise ServingError(f"params.k = {k!r}: expected a whole number from 1 to {most:,}.")
    return int(k)


def predict(
    model: Recommender,
    sessions: Sequence[Sequence[Any]],
    k: Any = DEFAULT_K,
    exclude_query: bool = True,
) -> pd.DataFrame:
    """Top-``k`` items and scores for each session (the served model's answer)."""
    k = check_k(model, k, bool(exclude_query))
    queries, ignored = session_batch(model, sessions)
    recs = model.recommend(queries, k, exclude_query=bool(exclude_query))
    decode = model.fitted_index().decode
    return pd.DataFrame(
        {
            "items": [list(decode(row)) for row in recs.items],
            "scores": [row.tolist() for row in recs.scores],
            "ignored": ignored,
        }
    )


#: The request's parameters (the signature's ParamSchema): any other is refused.
PARAMS = ("k", "exclude_query")


def _strict_requests() -> None:
    """MLflow's server answers two malformed requests on its own, before the model sees
    them: it drops a parameter the signature does not declare (``{"kk": 3}`` answered as if
    absent, with a warning in the server's log) and its JSON decoder's RecursionError on
    deeply nested input is a 500. This refuses both as 400 with a one-line message, in
    the process that loaded the model; only requests to a model whose parameters are
    exactly :data:`PARAMS` are affected (MLflow keeps no hook for either check)."""
    import sys

    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    enforce = mlflow.pyfunc._enforce_params_schema
    if not getattr(enforce, "session_recs", False):

        def strict_params(params: Any, schema: Any) -> Any:
            names = [spec.name for spec in getattr(schema, "params", None) or ()]
            if isinstance(params, dict) and sorted(names) == sorted(PARAMS):
                unknown = [str(key) for key in params if str(key) not in names]
                if unknown:
                    raise MlflowException(
                        f"params.{unknown[0]}: unknown parameter; expected {' or '.join(PARAMS)}.",
                        error_code=INVALID_PARAMETER_VALUE,
                    )
            return enforce(params, schema)

        strict_params.session_recs = True  # type: ignore[attr-defined]
        # attr-defined with the mlflow extra installed (a private function); unused without it
        mlflow.pyfunc._enforce_params_schema = strict_params  # type: ignore[attr-defined, unused-ignore]
    server = sys.modules.get("mlflow.pyfunc.scoring_server")  # only when serving
    decode = getattr(server, "_decode_json_input", None)
    if server is not None and decode is not None and not getattr(decode, "session_recs", False):

        def bounded_decode(json_input: Any) -> Any:
            try:
                return decode(json_input)
            except RecursionError:
                raise MlflowException(
                    "The request's JSON is nested too deeply; expected "
                    '{"dataframe_records": [{"items": [<item id>, ...]}, ...], '
                    '"params": {"k": <number>}}.',
                    error_code=INVALID_PARAMETER_VALUE,
                ) from None

        bounded_decode.session_recs = True  # type: ignore[attr-defined]
        server._decode_json_input = bounded_decode  # type: ignore[attr-defined]


def _python_model_class() -> type:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
    from mlflow.pyfunc import PythonModel

    class SessionRecommender(PythonModel):
        """A fitted session-recs recommender: sessions in, top-K items and scores out."""

        def load_context(self, context: Any) -> None:
            self.recommender = load_recommender(Path(context.artifacts["recommender"]))
            config = context.model_config or {}
            self.identity = {key: str(config.get(key) or "unknown") for key in IDENTITY}
            _strict_requests()

        def predict(self, context, model_input, params=None):
            """Top-K items and scores per session of ``model_input`` (column ``items``).

            No type hints: MLflow would read them as a second signature; the logged
            :func:`signature` is the one requests are checked against.
            """
            params = params or {}
            if isinstance(model_input, pd.DataFrame):
                if "items" not in model_input.columns:
                    raise MlflowException(
                        f"The input has columns {list(model_input.columns)}; expected `items`.",
                        error_code=INVALID_PARAMETER_VALUE,
                    )
                sessions = list(model_input["items"])
            else:
                sessions = [row["items"] for row in model_input]
            try:
                answer = predict(
                    self.recommender,
                    sessions,
                    params.get("k", DEFAULT_K),
                    params.get("exclude_query", True),
                )
            except ServingError as error:
                raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
            return answer.assign(**self.identity)

    return SessionRecommender


def python_model() -> Any:
    """The pyfunc model that answers requests (its class needs MLflow, hence built here)."""
    return _python_model_class()()


def signature() -> Any:
    """Sessions (a list of item ids each) in; items, scores, ignored items and the
    answering model's name and version out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import Array

    return ModelSignature(
        inputs=Schema([ColSpec(Array(DataType.string), "items")]),
        outputs=Schema(
            [
                ColSpec(Array(DataType.string), "items"),
                ColSpec(Array(DataType.double), "scores"),
                ColSpec(Array(DataType.string), "ignored"),
                *(ColSpec(DataType.string, key) for key in IDENTITY),
            ]
        ),
        params=ParamSchema(
            [
                ParamSpec(PARAMS[0], DataType.long, DEFAULT_K),
                ParamSpec(PARAMS[1], DataType.boolean, True),
            ]
        ),
    )


def input_example(model: Recommender, length: int = 3) -> pd.DataFrame:
    """A session of the model's ``length`` most popular items (item ids the model knows)."""
    order = np.argsort(-model.fitted_popularity(), kind="stable")[:length]
    return pd.DataFrame({"items": [list(model.fitted_index().decode(order))]})


def requirements(model: Recommender) -> list[str]:
    """Pinned requirements of a served ``model`` (the installed versions)."""
    from importlib import metadata

    pinned = []
    module = type(model).__module__
    extra = next(
        (
            needs
            for where, needs in EXTRA_REQUIREMENTS.items()
            if f"{module}.".startswith(f"{where}.")
        ),
        (),
    )
    for package in (*REQUIREMENTS, *extra):
        try:
            pinned.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pinned.append(package)
    return pinned


def load_recommender(model_file: Path) -> Recommender:
    """The recommender saved in ``model_file`` (refused in one line unless it is a model
    file of this session-recs)."""
    with open(model_file, "rb") as file:
        return read_model(file, str(model_file), "retrain the model and log it again")


def identity(model_file: Path, name: str | None = None, run_id: str | None = None) -> dict:
    """The served model's ``model`` and ``version``: ``name`` (default: the file's stem) and
    the folder name of a versioned model file (``<name>.npz/<version>/<name>.npz``, as the
    catalog saves ``<model>.recommender``), else ``run:<run_id>``, else ``unversioned``."""
    model_file = Path(model_file)
    versioned = model_file.parent.parent.name == model_file.name
    version = model_file.parent.name if versioned else (f"run:{run_id}" if run_id else None)
    return {"model": name or model_file.stem, "version": version or "unversioned"}


def _arguments(model_file: Path, name: str | None, run_id: str | None) -> dict[str, Any]:
    model = load_recommender(model_file)
    return {
        "python_model": str(Path(__file__).with_name("served_model.py")),
        "artifacts": {"recommender": str(model_file)},
        "model_config": identity(model_file, name, run_id),
        "code_paths": [str(Path(__file__).parent)],
        "signature": signature(),
        "input_example": (input_example(model), {"k": DEFAULT_K}),
        "pip_requirements": requirements(model),
    }


def log_model(model_file: Path, name: str = "model", *, model: str | None = None) -> Any:
    """Log the saved recommender ``model_file`` to the active MLflow run as ``name``;
    its answers name ``model`` (default: the file's stem) and its :func:`identity`."""
    import mlflow
    import mlflow.pyfunc

    run = mlflow.active_run()
    arguments = _arguments(Path(model_file), model, run.info.run_id if run else None)
    return mlflow.pyfunc.log_model(name=name, **arguments)


def save_model(model_file: Path, path: Path, *, model: str | None = None) -> None:
    """Write the saved recommender ``model_file`` as an MLflow model folder ``path``."""
    import mlflow.pyfunc

    mlflow.pyfunc.save_model(path=str(path), **_arguments(Path(model_file), model, None))
