"""What a run needs before it starts: its filters checked, missing inputs made, sets whole.

Any registered pipeline runs from a fresh clone, in any order (``kedro run
--pipeline=tune``, ``--pipelines=report``, ``--namespaces=<model>``):

- an input no run has saved yet, made by the data pipelines (``ingest``, ``sessionize``,
  ``split``: nodes tagged :data:`DATA_TAG`), brings the nodes that make it into the run,
  and the run says so in one line;
- an input made by another pipeline (a model, the tune search) stops the run with one
  line naming the command that makes it;
- an input wrapped in :class:`~session_recs.framework.datasets.OptionalDataset` (every
  ``<model>.metrics``, the tune results) may be missing: the report lists what ran;
- the model trained from the tune search (nodes tagged :data:`SEARCH_TAG`) is left out,
  in one line, while there is no search, unless it was asked for by name;
- the outputs one node saved together must be read together: if their latest versions
  come from different runs (a run killed between two saves), the run stops in one line
  naming the node to rerun;
- a ``--params`` value is applied or refused, never ignored: one that only nodes outside
  the run read brings them in when they are data nodes upstream of the run (with the data
  nodes between them and the run, in one line: ``--pipelines=split
  --params=sessionize.min_session_length=3`` sessionizes again first), and otherwise stops
  the run in one line naming the pipeline (or namespace) to add. ``dataset`` is read by
  every run (it picks the data).

Kedro's own filters (``--namespaces``, ``--tags``, ``--nodes``, ``--from-nodes``,
``--to-nodes``, ``--from-inputs``, ``--to-outputs``) are checked against the pipeline first,
so a typo gets one line with the names that exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import AbstractVersionedDataset, VersionNotFoundError
from kedro.pipeline import Node, Pipeline

from session_recs.core.errors import ConfigError
from session_recs.framework.datasets import OptionalDataset
from session_recs.models import missing_extra
from session_recs.pipelines.namespaces import (
    DATA_TAG,
    MODEL_NAMESPACES,
    NEURAL_MODELS,
    NEURAL_TAG,
    SEARCH_TAG,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    TUNE_TAG,
    TUNED_SUFFIX,
    combine,
    pipeline_of,
    refit_of,
    searched_by,
)

SEARCH_OUTPUT = "best_w2v_params"
#: Parameters every run reads (the data they pick), or that are no node's input.
_READ_BY_EVERY_RUN = ("dataset", "datasets")


@dataclass
class RunPlan:
    """The nodes to run and what was decided, one log line each."""

    node_names: list[str]
    notes: list[str] = field(default_factory=list)


def _known(what: str, given: Iterable[str], known: Iterable[str], option: str) -> None:
    known = sorted(set(known))
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
            raise ConfigError(f"{option}: no {what} {name!r} in this run; {hint}known: {shown}.")


def check_filters(pipeline: Pipeline, filters: Mapping[str, Any]) -> None:
    """Each name given to Kedro's filter options exists in ``pipeline``."""
    nodes = pipeline.nodes
    names = [node.name for node in nodes]
    namespaces = {
        ".".join(node.namespace.split(".")[: i + 1])
        for node in nodes
        if node.namespace
        for i in range(node.namespace.count(".") + 1)
    }
    datasets = pipeline.datasets()
    checks = {
        "namespaces": ("namespace", namespaces, "--namespaces"),
        "tags": ("tag", {tag for node in nodes for tag in node.tags}, "--tags"),
        "node_names": ("node", names, "--nodes"),
        "from_nodes": ("node", names, "--from-nodes"),
        "to_nodes": ("node", names, "--to-nodes"),
        "from_inputs": ("dataset", datasets, "--from-inputs"),
        "to_outputs": ("dataset", datasets, "--to-outputs"),
    }
    for key, (what, known, option) in checks.items():
        _known(what, filters.get(key) or (), known, option)


def _is_optional(dataset: AbstractDataset) -> bool:
    return isinstance(dataset, OptionalDataset)


def _versioned(dataset: AbstractDataset) -> AbstractVersionedDataset | None:
    if isinstance(dataset, OptionalDataset):
        dataset = dataset.wrapped
    return dataset if isinstance(dataset, AbstractVersionedDataset) else None


def _latest_version(dataset: AbstractDataset) -> str | None:
    versioned = _versioned(dataset)
    if versioned is None:
        return None
    try:
        return versioned.resolve_load_version()
    except VersionNotFoundError:
        return None


def _pipeline_of(node: Node, registry: Mapping[str, Pipeline]) -> str:
    """The smallest registered pipeline (other than ``__default__``) that has ``node``."""
    owners = [
        (len(pipe.nodes), name)
        for name, pipe in registry.items()
        if name != "__default__" and node in pipe.nodes
    ]
    return min(owners)[1] if owners else "__default__"


def check_whole_sets(
    inputs: Iterable[str],
    producers: Mapping[str, Node],
    catalog: Any,
    pinned: Iterable[str],
    registry: Mapping[str, Pipeline],
) -> None:
    """Outputs one node saved together have the same latest version (one run made them)."""
    pinned = set(pinned)
    seen: set[str] = set()
    for name in inputs:
        node = producers.get(name)
        if node is None or node.name in seen or pinned & set(node.outputs):
            continue
        seen.add(node.name)
        versions = {
            output: version
            for output in node.outputs
            if output in catalog and (version := _latest_version(catalog[output])) is not None
        }
        if len(set(versions.values())) > 1:
            listed = ", ".join(f"{output} {version}" for output, version in versions.items())
            raise ConfigError(
                f"The latest outputs of node {node.name} come from different runs ({listed}): "
                "a run was interrupted between its saves. Make them again with `kedro run "
                f"--pipelines={_pipeline_of(node, registry)}` (or pick one run's versions "
                "with --load-versions)."
            )


def check_searched(models: Iterable[str]) -> None:
    """Each model ``tune.model`` / ``tune.models`` names can be searched."""
    for model in models:
        if model in SEARCHABLE_MODELS or model == SEARCHED_MODEL:
            continue
        if model in MODEL_NAMESPACES and model.endswith(TUNED_SUFFIX) and not refit_of(model):
            raise ConfigError(
                f"tune.models: {model} is not searched: its name ends in {TUNED_SUFFIX}, which "
                f"names a search's refit; searchable: {', '.join(SEARCHABLE_MODELS)}."
            )
        if model in MODEL_NAMESPACES:
            raise ConfigError(
                f"tune.models: {model} has no option to search (or is a search's refit); "
                f"searchable: {', '.join(SEARCHABLE_MODELS)}."
            )
        close = difflib.get_close_matches(model, SEARCHABLE_MODELS, n=2)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(
            f"tune.models: no model namespace {model!r}; {hint}searchable: "
            f"{', '.join((SEARCHED_MODEL, *SEARCHABLE_MODELS))}."
        )


def select_searches(nodes: list[Node], searched: tuple[str, ...]) -> tuple[list[Node], str]:
    """The nodes of a tune run without the searches (and refits) of unselected models."""
    if not any(TUNE_TAG in node.tags for node in nodes):
        return nodes, ""
    kept = [node for node in nodes if searched_by(node) in (None, *searched)]
    if not any(TUNE_TAG in node.tags for node in kept):
        chosen = ", ".join(searched)
        raise ConfigError(
            f"This run searches {chosen} (tune.model / tune.models), and the nodes "
            f"selected belong to other models' searches: add --params=tune.model=<model> "
            "(or tune.models=[...]) for the one you want."
        )
    return kept, f"Searching {', '.join(searched)} (tune.model / tune.models)."


def _leaf_paths(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            paths += _leaf_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def _reads(node: Node, path: str) -> bool:
    """Whether ``node`` reads the parameter ``path`` (``split.seed``) or a part of it."""
    for name in node.inputs:
        if name == "parameters":
            return True
        key = name.removeprefix("params:")
        if key != name and (
            key == path or path.startswith(f"{key}.") or key.startswith(f"{path}.")
        ):
            return True
    return False


def _data_upstream(nodes: Iterable[Node], producers: Mapping[str, Node]) -> list[Node]:
    """The data nodes that make, through data nodes only, an input of ``nodes``."""
    found: dict[str, Node] = {}
    queue = [name for node in nodes for name in node.inputs]
    while queue:
        producer = producers.get(queue.pop())
        if producer is None or DATA_TAG not in producer.tags or producer.name in found:
            continue
        found[producer.name] = producer
        queue.extend(producer.inputs)
    return list(found.values())


def _downstream_within(start: Node, nodes: list[Node]) -> list[Node]:
    """``start`` and the ``nodes`` that read, directly or not, what it makes."""
    chosen = [start]
    made = set(start.outputs)
    grew = True
    while grew:
        grew = False
        for node in nodes:
            if node not in chosen and made & set(node.inputs):
                chosen.append(node)
                made |= set(node.outputs)
                grew = True
    return chosen


def _refuse_unread(
    path: str, readers: list[Node], registry: Mapping[str, Pipeline], by_namespace: bool
) -> None:
    """Stop the run: ``--params`` gave ``path``, which only ``readers`` (not in the run) read."""
    top = path.partition(".")[0]
    if top in MODEL_NAMESPACES:
        hint = f"--namespaces={top}" if by_namespace else f"--pipelines={pipeline_of(top)}"
        raise ConfigError(f"{path} (--params): model {top} is not in this run; add {hint}.")
    order = list(registry)
    pipes = sorted({_pipeline_of(node, registry) for node in readers}, key=order.index)
    if len(pipes) == 1:
        raise ConfigError(
            f"{path} (--params): only pipeline {pipes[0]} reads it, and {pipes[0]} is not in "
            f"this run; add --pipelines={pipes[0]}."
        )
    raise ConfigError(
        f"{path} (--params): only pipelines {', '.join(pipes)} read it, and none of them is "
        f"in this run; add one, e.g. --pipelines={pipes[0]}."
    )


def bring_in_readers(
    nodes: list[Node],
    everything: Pipeline,
    given: Mapping[str, Any],
    registry: Mapping[str, Pipeline],
    *,
    by_namespace: bool = False,
    pinned: Iterable[str] = (),
) -> tuple[list[Node], str]:
    """The data nodes to add so that the run reads every ``--params`` value (``given``),
    and why (one line); a value only other pipelines read, or one that would remake an
    input ``--load-versions`` pins, stops the run in one line."""
    pinned = set(pinned)
    producers = {output: node for node in everything.nodes for output in node.outputs}
    running = set(nodes)
    added: list[Node] = []
    reasons: list[str] = []
    for path in _leaf_paths({k: v for k, v in given.items() if k not in _READ_BY_EVERY_RUN}):
        readers = [node for node in everything.nodes if _reads(node, path)]
        if not readers or running & set(readers):
            continue
        upstream = _data_upstream([*running], producers)
        bring = [node for node in readers if node in upstream]
        if not bring:
            _refuse_unread(path, readers, registry, by_namespace)
        for reader in bring:
            for node in _downstream_within(reader, upstream):
                if pinned & set(node.outputs):
                    held = ", ".join(sorted(pinned & set(node.outputs)))
                    raise ConfigError(
                        f"{path} (--params) is read by {reader.name}, which would make {held} "
                        "again, and --load-versions pins it: drop one of the two."
                    )
                if node not in running:
                    running.add(node)
                    added.append(node)
        reasons.append(path)
    if not added:
        return nodes, ""
    order = [node.name for node in everything.nodes if node in added]
    note = (
        f"{', '.join(reasons)} (--params) {'is' if len(reasons) == 1 else 'are'} read before "
        f"the selected nodes: running {' → '.join(order)} first."
    )
    return [*added, *nodes], note


def plan_run(
    selected: Pipeline,
    registry: Mapping[str, Pipeline],
    catalog: Any,
    *,
    pinned: Iterable[str] = (),
    dataset: str = "",
    searched: tuple[str, ...] = (SEARCHED_MODEL,),
    by_namespace: bool = False,
    given: Mapping[str, Any] | None = None,
) -> RunPlan:
    """The nodes a run of ``selected`` must run, from a fresh clone or a partial one.

    ``searched``: the models a tune run searches; nodes of other models' searches are
    left out, unless the run was filtered by namespace (``by_namespace``). ``given``: the
    ``--params`` values, each read by the run (:func:`bring_in_readers`).
    """
    everything = combine(registry.values())
    producers = {output: node for node in everything.nodes for output in node.outputs}
    pinned = set(pinned)
    notes: list[str] = []
    nodes = list(selected.nodes)
    of_dataset = f" for dataset {dataset}" if dataset else ""
    check_searched(searched)
    nodes, note = bring_in_readers(
        nodes, everything, given or {}, registry, by_namespace=by_namespace, pinned=pinned
    )
    notes += [note] if note else []
    if not by_namespace:
        nodes, note = select_searches(nodes, searched)
        notes += [note] if note else []

    nodes, note = _without_missing_extras(nodes)
    notes += [note] if note else []
    from_search = [node for node in nodes if SEARCH_TAG in node.tags]
    missing = _search_missing(catalog, of_dataset) if from_search else None
    if (
        missing
        and SEARCH_OUTPUT not in {o for node in nodes for o in node.outputs}
        and _needs_search(from_search, catalog)
    ):
        if len(from_search) == len(nodes):
            raise ConfigError(
                f"There is {missing}, and its best configuration is what "
                f"{from_search[0].namespace} trains: run `kedro run --pipeline=tune` first "
                f"(or resume it), or set --params={from_search[0].namespace}.model."
                "from_search=false."
            )
        nodes = [node for node in nodes if SEARCH_TAG not in node.tags]
        notes.append(
            f"Skipping {from_search[0].namespace}: there is {missing} "
            "(`kedro run --pipeline=tune` makes one)."
        )

    running = {output for node in nodes for output in node.outputs}
    added: list[Node] = []
    made_for: list[str] = []
    queue = sorted({name for node in nodes for name in node.inputs} - running)
    free = list(queue)
    while queue:
        name = queue.pop()
        if name.startswith("params:") or name == "parameters" or name in running:
            continue
        if name in pinned or name not in catalog or _is_optional(catalog[name]):
            continue
        if catalog.exists(name):
            continue
        producer = producers.get(name)
        if producer is None:
            continue  # a raw source: its dataset names the missing file when it loads
        if DATA_TAG not in producer.tags:
            raise ConfigError(
                f"{name} has not been made yet{of_dataset}: run `kedro run "
                f"--pipelines={_pipeline_of(producer, registry)}` first."
            )
        added.append(producer)
        made_for.append(name)
        running |= set(producer.outputs)
        queue.extend(sorted(set(producer.inputs) - running))
    if added:
        order = [node.name for node in everything.nodes if node in added]
        notes.append(
            f"{', '.join(sorted(made_for))} not saved yet{of_dataset}: running "
            f"{' → '.join(order)} first."
        )
    check_whole_sets(
        [name for name in free if name not in running], producers, catalog, pinned, registry
    )
    return RunPlan([node.name for node in [*added, *nodes]], notes)


def _without_missing_extras(nodes: list[Node]) -> tuple[list[Node], str]:
    """The nodes without the neural models' when PyTorch is not installed, and why."""
    neural = [node for node in nodes if NEURAL_TAG in node.tags]
    why = missing_extra(NEURAL_MODELS[0]) if neural else None
    if not why:
        return nodes, ""
    names = {
        refit_of(name) or name for name in ((node.namespace or "").split(".")[0] for node in neural)
    }
    models = ", ".join(sorted(names))
    # Asked for alone (the report that ends the tune pipeline aside): refuse, saying why.
    if all(NEURAL_TAG in node.tags or "report" in node.tags for node in nodes):
        raise ConfigError(f"{models} {'need' if len(names) > 1 else 'needs'} {why}.")
    kept = [node for node in nodes if NEURAL_TAG not in node.tags]
    return kept, f"Skipping {models}: they need {why}."


def _search_missing(catalog: Any, of_dataset: str) -> str | None:
    """Why there is no usable search result (None when there is one)."""
    if not catalog.exists(SEARCH_OUTPUT):
        return f"no tune search{of_dataset} yet"
    try:
        best = catalog.load(SEARCH_OUTPUT)
    except Exception:  # a damaged file: the node that reads it names it
        return None
    if not ((best or {}).get("search") or {}).get("complete", True):
        return (
            f"only an interrupted tune search{of_dataset} (resume it with "
            "--params=tune.resume=true)"
        )
    return None


def _needs_search(searched: list[Node], catalog: Any) -> bool:
    """Whether the searched model trains from the search (``from_search``, the default)."""
    for namespace in {node.namespace for node in searched}:
        key = f"params:{namespace}.model"
        spec = catalog.load(key) if key in catalog else None
        from_search = getattr(spec, "from_search", None)
        if from_search is None and isinstance(spec, Mapping):
            from_search = spec.get("from_search", True)
        if from_search is not False:
            return True
    return False
