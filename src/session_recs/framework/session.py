"""The project's KedroSession: every run is planned first (:mod:`session_recs.framework.run_plan`).

``settings.SESSION_CLASS`` makes Kedro use it for ``kedro run``, ``python -m session_recs
run``, notebooks and kedro-viz alike. A run checks its filters, brings the data
pipelines' nodes whose outputs are missing, leaves out the model trained from a search
that does not exist yet, refuses outputs of one node that come from different runs, and
then runs exactly those nodes through Kedro's own ``KedroSession.run``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.io.core import AbstractVersionedDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.pandas import ParquetDataset

from session_recs.core.errors import ConfigError, unreadable_version
from session_recs.framework.run_plan import check_filters, plan_run
from session_recs.framework.tracking import end_interrupted
from session_recs.pipelines.namespaces import combine
from session_recs.tuning.space import selected_models

logger = logging.getLogger(__name__)

_FILTERS = ("tags", "node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs")


class ProjectSession(KedroSession):
    """KedroSession whose ``run`` plans the nodes before Kedro runs them."""

    def load_context(self) -> KedroContext:
        """One context per session: the run's planning and Kedro's own run share it (and
        its config loader, which reads and resolves the parameters and catalog once), and
        the ``after_context_created`` hooks run once."""
        context = getattr(self, "_loaded_context", None)
        if context is None:
            context = self._loaded_context = super().load_context()
        return context

    def _kedro_run(self, **options: Any) -> dict[str, Any]:
        """Kedro's run; on Ctrl-C, the MLflow runs it opened end as KILLED first."""
        try:
            return super().run(**options)
        except KeyboardInterrupt:
            end_interrupted()
            raise

    def run(  # noqa: PLR0917 (KedroSession.run's signature)
        self,
        pipeline_name: str | None = None,
        pipeline_names: list[str] | None = None,
        tags: Iterable[str] | None = None,
        runner: Any = None,
        node_names: Iterable[str] | None = None,
        from_nodes: Iterable[str] | None = None,
        to_nodes: Iterable[str] | None = None,
        from_inputs: Iterable[str] | None = None,
        to_outputs: Iterable[str] | None = None,
        load_versions: dict[str, str] | None = None,
        namespaces: Iterable[str] | None = None,
        only_missing_outputs: bool = False,
    ) -> dict[str, Any]:
        """Run the planned nodes of the named pipelines (``__default__`` when none)."""
        names = list(pipeline_names or ([pipeline_name] if pipeline_name else [])) or [
            "__default__"
        ]
        filters = {
            "tags": tags,
            "node_names": node_names,
            "from_nodes": from_nodes,
            "to_nodes": to_nodes,
            "from_inputs": from_inputs,
            "to_outputs": to_outputs,
            "namespaces": namespaces,
        }
        # Planning looks at every pipeline (which node makes a missing input).
        pipelines.set_requested(None)
        registry = dict(pipelines.items())
        unknown = [name for name in names if name not in registry]
        if unknown:
            known = ", ".join(name for name in registry if name != "__default__")
            raise ConfigError(
                f"Unknown pipeline {', '.join(map(repr, unknown))} in --pipelines; the "
                f"project's pipelines are {known} (no --pipelines: __default__, all but tune "
                "and train_neural)."
            )
        combined = combine(registry[name] for name in names)
        check_filters(combined, filters)
        selected = combined.filter(
            **{key: filters[key] for key in _FILTERS}, node_namespaces=namespaces
        )
        context = self.load_context()
        catalog = context.catalog
        plan = plan_run(
            selected,
            registry,
            catalog,
            pinned=(load_versions or {}).keys(),
            dataset=str(context.params.get("dataset", "")),
            searched=selected_models(context.params.get("tune") or {}),
            by_namespace=bool(namespaces),
            given=self.store.get("runtime_params") or {},
        )
        for note in plan.notes:
            logger.info(note)
        everything = combine(registry.values())
        planned = [node for node in everything.nodes if node.name in set(plan.node_names)]
        planned = [_variant(node, selected) for node in planned]
        check_parquet_inputs(catalog, planned, pinned=set(load_versions or {}))
        wanted = {node.name for node in planned}
        common = {"runner": runner, "load_versions": load_versions}
        common["only_missing_outputs"] = only_missing_outputs
        whole = [name for name, pipe in registry.items() if set(pipe.nodes) == set(planned)]
        if whole:
            # The plan is a registered pipeline (a plain `kedro run` is `__default__`):
            # Kedro runs it unfiltered, and kedro-viz's run status follows the run.
            name = "__default__" if "__default__" in whole else whole[0]
            return self._kedro_run(
                pipeline_names=None if name == "__default__" else [name], **common
            )
        if wanted == {node.name for node in selected.nodes} and _summable(registry, names):
            # Nothing added or left out: Kedro runs the request as given.
            return self._kedro_run(
                pipeline_names=pipeline_names or ([pipeline_name] if pipeline_name else None),
                namespaces=namespaces,
                **{key: filters[key] for key in _FILTERS},
                **common,
            )
        return self._kedro_run(
            pipeline_names=_owners(planned, registry),
            node_names=[node.name for node in planned],
            **common,
        )


def _variant(node: Node, selected: Pipeline) -> Node:
    """``node``, or the node of its name that the user's pipelines hold (the default
    pipeline's report rather than the report pipeline's)."""
    return next((chosen for chosen in selected.nodes if chosen.name == node.name), node)


def _summable(registry: dict[str, Pipeline], names: list[str]) -> bool:
    """Whether Kedro's own ``+`` takes the pipelines ``names`` (no two nodes of one name)."""
    nodes = [node for name in names for node in registry[name].nodes]
    return len({node.name for node in nodes}) == len(set(nodes))


def _owners(planned: list[Node], registry: dict[str, Pipeline]) -> list[str]:
    """Registered pipelines that hold the ``planned`` nodes and no other node of their names
    (Kedro adds them up, then keeps the planned nodes by name)."""
    names = {node.name: node for node in planned}
    usable = [
        name
        for name, pipe in registry.items()
        if all(names.get(node.name, node) == node for node in pipe.nodes)
    ]
    owners = [
        name
        for name in usable
        if name != "__default__" and set(planned) & set(registry[name].nodes)
    ]
    covered = {node for name in owners for node in registry[name].nodes}
    if not set(planned) <= covered and "__default__" in usable:
        owners = [
            "__default__",
            *(name for name in owners if _summable(registry, ["__default__", name])),
        ]
    return owners


#: A Parquet file starts and ends with these bytes; a truncated one lacks the end.
_PARQUET_MAGIC = b"PAR1"


def check_parquet_inputs(catalog: Any, nodes: list[Any], pinned: set[str]) -> None:
    """Refuse, before any node runs (so nothing is saved), a latest versioned Parquet
    input of ``nodes`` that is not a whole Parquet file (a truncated or empty write from a
    machine that died), naming it and the way back; a pinned version is the user's pick."""
    produced = {output for node in nodes for output in node.outputs}
    inputs = {name for node in nodes for name in node.inputs if name not in produced}
    for name in sorted(inputs - pinned):
        try:
            dataset = catalog[name]
            if not isinstance(dataset, AbstractVersionedDataset):
                continue
            if not isinstance(dataset, ParquetDataset):
                continue
            path = Path(str(dataset._get_load_path()))
        except Exception:
            continue
        if getattr(dataset, "_protocol", "file") != "file" or not path.is_file():
            continue
        with path.open("rb") as file:
            head = file.read(4)
            file.seek(max(path.stat().st_size - 4, 0))
            tail = file.read(4)
        if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC or path.stat().st_size < 12:
            size = path.stat().st_size
            raise unreadable_version(
                name,
                path.parent.parent,
                path.parent.name,
                f"{size:,} bytes, not a whole Parquet file",
                latest=True,
            )
