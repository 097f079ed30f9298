"""The project's config loader: Kedro's OmegaConfigLoader plus dataset blocks and defaults.

The parameters a run sees are built in four layers, each winning over the one before:

1. ``conf/base/parameters*.yml`` (and the run's env): every setting's default. A
   setting whose default is ``auto`` follows from the source (layer 3).
2. ``datasets.<dataset>`` in ``conf/base/parameters_datasets.yml``: the one block of
   deviations of the dataset chosen with ``--params=dataset=...`` (FF19's recipe for
   ``online_retail``, the demo's short epochs, published numbers for the report...).
3. What the source's catalog entry provides, for settings still ``auto``
   (:mod:`session_recs.data.defaults`: train/test files, timestamps, an order column).
4. ``--params`` on the command line.

Every setting of layer 3, and every value a dataset's block or ``--params`` gives one
of those settings, is listed by :attr:`ProjectConfigLoader.choices`;
:class:`~session_recs.hooks.DatasetChoiceHooks` logs them, one line each, when a run
starts. The ``datasets`` key itself is not a parameter: only the chosen block's values
reach the nodes.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from session_recs.data.defaults import AUTO, Choice, SourceShape, infer_settings
from session_recs.errors import ConfigError

DATASET_BLOCKS = "datasets"


#: kedro-viz draws every source in the raw layer unless its entry says otherwise.
RAW_METADATA = {"kedro-viz": {"layer": "raw"}}


def pick_source(name: Any, sources: Any) -> dict[str, Any]:
    """Resolver ``${source:<dataset>,${_sources}}``: the catalog entry of ``dataset``."""
    if name not in sources:
        raise ConfigError(
            f"Unknown dataset {name!r} (set with --params=dataset=...). Known datasets: "
            f"{', '.join(sorted(sources))}. To add one, add its entry under '_sources' in "
            "conf/base/catalog.yml."
        )
    entry = sources[name]
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"_sources.{name} in conf/base/catalog.yml must be a dataset entry with a 'type', "
            f"got {entry!r}."
        )
    entry = OmegaConf.to_container(entry, resolve=True) if OmegaConf.is_config(entry) else entry
    entry = {"metadata": RAW_METADATA, **dict(entry)}
    # Kedro makes relative paths absolute (so notebooks find the files) only under keys
    # named `filepath`: the train and test files are handed over in that form.
    for split in ("train", "test"):
        if isinstance(entry.get(split), str):
            entry[split] = {"filepath": entry[split]}
    return entry


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, mappings key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _assign(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def source_shape(entry: Any) -> SourceShape:
    """What a source's catalog entry provides, for the project's source datasets."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
        return SourceShape()
    module, _, name = entry["type"].rpartition(".")
    if not module.startswith("session_recs."):
        return SourceShape()  # another Kedro dataset: nothing to infer from its entry
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return SourceShape()  # Kedro reports the bad type when it builds the catalog
    shape = getattr(cls, "shape", None)
    return shape(entry) if callable(shape) else SourceShape()


def effective_parameters(
    params: dict[str, Any], runtime: Mapping[str, Any], entry: Any
) -> tuple[dict[str, Any], list[Choice]]:
    """The parameters of a run (layers 1-4 of the module docstring) and the choices made."""
    params = dict(params)
    blocks = params.pop(DATASET_BLOCKS, None) or {}
    dataset = params.get("dataset")
    block = (blocks.get(dataset) or {}) if isinstance(blocks, Mapping) else {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"{DATASET_BLOCKS}.{dataset} must be a mapping of settings.")
    merged = _merge(_merge(params, block), runtime)
    choices = []
    for choice in infer_settings(source_shape(entry)):
        value = _lookup(merged, choice.key)
        if value == AUTO:
            _assign(merged, choice.key, choice.value)
            choices.append(choice)
        elif _lookup(runtime, choice.key) is not None:
            choices.append(Choice(choice.key, value, "set explicitly in --params"))
        elif _lookup(block, choice.key) is not None:
            choices.append(
                Choice(choice.key, value, f"set explicitly in {DATASET_BLOCKS}.{dataset}")
            )
    _check_report_k(merged)
    return merged, choices


def _check_report_k(params: Mapping[str, Any]) -> None:
    k = _lookup(params, "report.k")
    ks = _lookup(params, "evaluation.ks")
    valid = isinstance(ks, list) and all(isinstance(x, int) and x >= 1 for x in ks)
    if isinstance(k, int) and k >= 1 and valid and k not in ks:
        raise ConfigError(
            f"report.k = {k}: expected one of evaluation.ks {ks} (the report shows metrics "
            "that were measured); add it to evaluation.ks or choose another report.k."
        )


class ProjectConfigLoader(OmegaConfigLoader):
    """OmegaConfigLoader whose ``parameters`` are the effective ones of the chosen dataset."""

    def __init__(self, conf_source: str, *args: Any, **kwargs: Any) -> None:
        resolvers = {"source": pick_source, **(kwargs.pop("custom_resolvers", None) or {})}
        super().__init__(conf_source, *args, custom_resolvers=resolvers, **kwargs)
        root = Path(str(conf_source))
        env = self.env
        if env and root.is_dir() and not (root / env).is_dir():
            envs = sorted(path.name for path in root.iterdir() if path.is_dir())
            raise ConfigError(
                f"--env={env}: there is no conf/{env} folder; the project's environments are "
                f"{', '.join(envs)}."
            )
        self.choices: list[Choice] = []
        self.dataset: Any = None

    def __getitem__(self, key: str) -> dict[str, Any]:
        config = super().__getitem__(key)
        if key != "parameters":
            return config
        entry = super().__getitem__("catalog").get("raw_interactions")
        params, self.choices = effective_parameters(config, self.runtime_params or {}, entry)
        self.dataset = params.get("dataset")
        return params
