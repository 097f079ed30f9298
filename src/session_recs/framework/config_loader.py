"""The project's config loader: Kedro's OmegaConfigLoader plus dataset blocks and defaults.

The parameters a run sees are built in four layers, each winning over the one before:

1. ``conf/base/parameters*.yml`` (and the run's env): every setting's default. A
   setting whose default is ``auto`` follows from the source (layer 3).
2. ``datasets.<dataset>`` in ``conf/base/parameters_datasets.yml``: the one block of
   deviations of the dataset chosen with ``dataset`` (FF19's recipe for
   ``online_retail``, the demo's short epochs, published numbers for the report...).
3. What the source's catalog entry provides, for settings still ``auto``
   (:mod:`session_recs.data.defaults`: train/test files, timestamps, an order column).
4. ``--params`` on the command line.

Every setting of layer 3, and every value a dataset's block or ``--params`` gives one
of those settings, is listed by :attr:`ProjectConfigLoader.choices`;
:class:`~session_recs.framework.hooks.DatasetChoiceHooks` logs them, one line each, when a run
starts. The ``datasets`` key itself is not a parameter: only the chosen block's values
reach the nodes.

A parameter is applied or refused, never ignored: a top-level key that no file of
``conf/base`` has (a misspelt section), in another environment's files, a dataset's block
or ``--params``, stops the run in one line with the nearest known name; so does a value
where the defaults have a section of settings (``--params=split=5``) or the reverse, a key
beside ``model`` in a model namespace, and a ``--params`` block of a dataset the run does
not use. ``dataset``, wherever it is set, selects the catalog's source too (the catalog's
``${runtime_params:dataset,...}`` sees the effective value), and must name one.

A conf file Kedro cannot read (bad YAML, not UTF-8, a repeated key, a list, a folder
named like a file), an ``${...}`` that resolves to nothing and a catalog entry without a
usable ``type`` stop the run in one line naming the file and line
(:mod:`session_recs.framework.conf_files` says what is wrong). The module is past 400 lines because
it is the one place that extends Kedro's config loading.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from session_recs.core.errors import ConfigError
from session_recs.data.defaults import AUTO, Choice, SourceShape, infer_settings
from session_recs.framework.conf_files import (
    bad_conf_file,
    catalog_entry_problem,
    folder_as_file,
    repeated_keys,
    shown,
    unresolved,
)
from session_recs.framework.parsed_conf import read_folder

DATASET_BLOCKS = "datasets"
DATASET = "dataset"
#: Where ``--params`` values come from, in messages.
RUNTIME = "--params"
#: A dataset's name becomes a folder under data/.
_DATASET_NAME = re.compile(r"[A-Za-z0-9_-]+")
#: The one key of a model namespace (``<model>.model``: kind, options, from_search).
_MODEL_KEY = "model"


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
    if OmegaConf.is_config(entry):
        # A mapping's container is a dict.
        entry = cast(dict[str, Any], OmegaConf.to_container(entry, resolve=True))
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
    # A block given with --params is in `params` already (Kedro merges --params in).
    runtime = {key: value for key, value in runtime.items() if key != DATASET_BLOCKS}
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


def _hint(name: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"the {what} are: {', '.join(known)}."


def _is_model_namespace(default: Any) -> bool:
    return isinstance(default, Mapping) and isinstance(default.get(_MODEL_KEY), Mapping)


def _check_shape(path: str, default: Any, value: Any, where: str) -> None:
    """``value`` (a layer's) has the shape of ``default`` (base's): a section stays a
    section, a single value a value, and a model namespace holds only ``model``."""
    if isinstance(default, str) and default.startswith("${"):
        return  # an interpolation: its resolved shape is not known here
    if isinstance(default, Mapping):
        if value is None or isinstance(value, Mapping):
            for key, sub in (value or {}).items():
                if key in default:
                    _check_shape(f"{path}.{key}", default[key], sub, where)
                elif _is_model_namespace(default):
                    raise ConfigError(
                        f"{path}.{key} ({where}): unknown setting; a model namespace holds "
                        f"only {path}.{_MODEL_KEY} (kind, options, from_search)."
                    )
        elif default:
            raise ConfigError(
                f"{path} = {value!r} ({where}): {path} is a section of settings, not a value; "
                f"set one of its keys, e.g. {path}.{next(iter(default))}=..."
            )
    elif default is not None and isinstance(value, Mapping) and value:
        raise ConfigError(
            f"{path}.{next(iter(value))} ({where}): {path} is a single value "
            f"({default!r} by default), not a section of settings."
        )


def check_sections(defaults: Mapping[str, Any], layers: list[tuple[str, Any]]) -> None:
    """Each key of each layer (an environment's file, ``--params``), and of each dataset
    block in it, is a section of ``defaults`` (conf/base's parameters), of the same shape."""
    known = sorted(defaults)
    sections = [key for key in known if key not in (DATASET, DATASET_BLOCKS)]
    for where, tree in layers:
        for key, value in tree.items():
            if key not in defaults:
                raise ConfigError(
                    f"Unknown parameter section {key!r} ({where}); "
                    + _hint(str(key), known, "sections")
                )
            if key != DATASET_BLOCKS:
                _check_shape(key, defaults[key], value, where)
        blocks = tree.get(DATASET_BLOCKS)
        if blocks is not None and not isinstance(blocks, Mapping):
            raise ConfigError(
                f"{DATASET_BLOCKS} = {blocks!r} ({where}): expected one block of settings per "
                "dataset."
            )
        for name, block in (blocks or {}).items():
            at = f"{DATASET_BLOCKS}.{name} in {where}"
            if block is not None and not isinstance(block, Mapping):
                raise ConfigError(f"{at}: expected a mapping of settings, got {block!r}.")
            for key, value in (block or {}).items():
                if key not in sections:
                    raise ConfigError(
                        f"Unknown parameter section {key!r} ({at}); "
                        + _hint(str(key), sections, "sections")
                    )
                _check_shape(key, defaults[key], value, at)


def check_dataset(name: Any, known: list[str], where: str) -> str:
    """``name`` (the ``dataset`` parameter, set in ``where``) names a source of the catalog."""
    listed = f"Known datasets: {', '.join(known)}."
    if name is None or name == "":
        raise ConfigError(f"dataset is empty ({where}). {listed}")
    if not isinstance(name, str) or not _DATASET_NAME.fullmatch(name):
        raise ConfigError(
            f"dataset = {name!r} ({where}): expected a name of letters, digits, '_' or '-' "
            f"(it names the dataset's folders under data/). {listed}"
        )
    if name not in known:
        raise ConfigError(
            f"Unknown dataset {name!r} ({where}). {listed} To add one, add its entry under "
            "'_sources' in conf/base/catalog.yml."
        )
    return name


class ProjectConfigLoader(OmegaConfigLoader):
    """OmegaConfigLoader whose ``parameters`` are the effective ones of the chosen dataset."""

    def __init__(self, conf_source: str, *args: Any, **kwargs: Any) -> None:
        resolvers = {"source": pick_source, **(kwargs.pop("custom_resolvers", None) or {})}
        super().__init__(conf_source, *args, custom_resolvers=resolvers, **kwargs)
        root = Path(str(conf_source))
        env = self.env
        if env and (Path(env).name != env or env in {".", ".."}):
            raise ConfigError(
                f"--env={env}: expected the name of a folder of conf/ (e.g. local, cluster), "
                "not a path."
            )
        if env and root.is_dir() and not (root / env).is_dir():
            envs = sorted(path.name for path in root.iterdir() if path.is_dir())
            raise ConfigError(
                f"--env={env}: there is no conf/{env} folder; the project's environments are "
                f"{', '.join(envs)}."
            )
        self.choices: list[Choice] = []
        self.dataset: Any = None
        #: What ``--params`` gave, before the effective ``dataset`` is added for the catalog.
        self.given: dict[str, Any] = copy.deepcopy(dict(self.runtime_params or {}))
        self._checked = False
        self._plain: dict[str, dict[str, Any]] = {}  # Kedro's catalog, before our checks
        self._effective: dict[str, dict[str, Any]] = {}  # what __getitem__ returns a copy of

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key not in ("parameters", "catalog") or key in self:
            return self._resolved(key)
        self._check_parameters()
        # A run reads both several times (the session's planning, Kedro's context, the
        # catalog's build); they are read and resolved once per loader, with the
        # runtime parameters it was made with, and each reader gets its own copy.
        if key not in self._effective:
            self._effective[key] = self._effective_config(key)
        return copy.deepcopy(self._effective[key])

    def _resolved(self, key: str) -> dict[str, Any]:
        """Kedro's merged and resolved ``key``; an unresolvable ``${...}`` in one line."""
        try:
            return super().__getitem__(key)
        except InterpolationResolutionError as exc:
            raise self._bad_interpolation(key, exc) from None

    def _effective_config(self, key: str) -> dict[str, Any]:
        if key == "catalog":
            catalog = self._resolved_once("catalog")
            self._check_catalog(catalog)
            return catalog
        config = self._resolved("parameters")
        entry = self._resolved_once("catalog").get("raw_interactions")
        params, self.choices = effective_parameters(config, self.given, entry)
        self.dataset = params.get(DATASET)
        return params

    def _resolved_once(self, key: str) -> dict[str, Any]:
        if key not in self._plain:
            self._plain[key] = self._resolved(key)
        return self._plain[key]

    def _read_dir_configs(
        self,
        conf_path: str,
        patterns: Any,
        key: str,
        processed_files: set,
        read_environment_variables: bool | None = False,
    ) -> dict[Path, Any]:
        """Kedro's reading of one folder's files, each mistake in one line naming the file
        (and the YAML line): a folder where a file should be, bad YAML, text that is not
        UTF-8, a key repeated in one file or across two, a file that is not a mapping."""
        folder = Path(str(conf_path))
        top = Path(str(self.conf_source)).parent
        if self._protocol == "file" and (slip := folder_as_file(folder, patterns, key, top)):
            raise slip

        def parse(processed: set) -> dict[Path, Any]:
            return super(ProjectConfigLoader, self)._read_dir_configs(
                conf_path, patterns, key, processed, read_environment_variables
            )

        try:
            if self._protocol == "file" and not read_environment_variables:
                # Parsed once per process while the files stay the same (parsed_conf).
                configs = read_folder(folder, patterns, key, processed_files, parse)
            else:
                configs = parse(processed_files)
        except (yaml.YAMLError, UnicodeDecodeError, AttributeError, OmegaConfBaseException):
            # Kedro names no file for most of these (and fails on a list before its checks)
            bad = self._bad_file(folder, patterns, key, top)
            if bad is None:
                raise
            raise bad from None
        except ValueError as exc:
            repeated = repeated_keys(str(exc), top)
            if repeated is None:
                raise
            raise repeated from None
        return configs

    def _bad_file(self, folder: Path, patterns: Any, key: str, top: Path) -> ConfigError | None:
        """The first config file of ``folder`` Kedro cannot read, in one line."""
        paths = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
        return bad_conf_file(
            [p for p in paths if self._is_valid_config_path(p) and not self._is_hidden(str(p))],
            key,
            top,
        )

    def _bad_interpolation(self, key: str, exc: InterpolationResolutionError) -> ConfigError:
        """An ``${...}`` that resolves to nothing, named by its file, line and key."""
        full_key = str(getattr(exc, "full_key", "") or "")
        base, env = self._raw(key)
        where = next(
            (
                (at, value)
                for at, tree in reversed([*base, *env])
                if (value := _lookup(tree, full_key)) is not None
            ),
            None,
        )
        return unresolved(exc, full_key, where, Path(str(self.conf_source)).parent)

    def _check_catalog(self, config: Mapping[str, Any]) -> None:
        """Every catalog entry is a mapping with a ``type`` (Kedro refuses others without
        saying where); named by the file that sets it."""
        for name, entry in config.items():
            if str(name).startswith("_"):
                continue
            problem = catalog_entry_problem(entry)
            if problem is None:
                continue
            base, env = self._raw("catalog")
            where = next((at for at, tree in reversed([*base, *env]) if name in tree), "")
            hint = (
                ""
                if isinstance(entry, Mapping) and entry.get("type")
                else ("; a key that is not a dataset must start with an underscore")
            )
            raise ConfigError(
                f"Catalog entry '{name}'{f' ({where})' if where else ''}: {problem}{hint}."
            )

    def _raw(self, key: str) -> tuple[list[Layer], list[Layer]]:
        """The files of ``key`` in the base and the run's environment, unresolved, each
        named by its path (``conf/local/parameters.yml``)."""
        base, env, *_ = self._read_raw_config(key)
        top = Path(str(self.conf_source)).parent
        base_files, env_files = (
            [
                # A parameters or catalog file holds a mapping, whose container is a dict.
                (
                    shown(path, top),
                    cast(dict[str, Any], OmegaConf.to_container(config, resolve=False)) or {},
                )
                for path, config in sorted(files.items())
            ]
            for files in (base, env)
        )
        return base_files, env_files

    def _check_parameters(self) -> None:
        """Refuse unknown sections and a bad ``dataset``, then make the catalog's
        ``${runtime_params:dataset,...}`` see the effective dataset, wherever it was set."""
        if self._checked:
            return
        base, env = self._raw("parameters")
        defaults: dict[str, Any] = {}
        for _, tree in base:
            defaults.update(tree)
        given = [(RUNTIME, self.given)] if self.given else []
        check_sections(defaults, [(where, _blocks_only(tree)) for where, tree in base])
        check_sections(defaults, [*env, *given])
        where, name = next(
            (
                (at, tree[DATASET])
                for at, tree in reversed([*base, *env, *given])
                if DATASET in tree
            ),
            ("conf/base", None),
        )
        if isinstance(name, str) and name.startswith("${"):
            name = super().__getitem__("parameters").get(DATASET)  # an interpolation
        sources = sorted(
            {
                str(source)
                for files in self._raw("catalog")
                for _, tree in files
                for source in (tree.get("_sources") or {})
            }
        )
        if sources:  # a project without `_sources` picks its raw data otherwise
            check_dataset(name, sources, where)
        other = next((b for b in self.given.get(DATASET_BLOCKS) or {} if b != name), None)
        if other is not None:
            raise ConfigError(
                f"{DATASET_BLOCKS}.{other} ({RUNTIME}) applies when dataset={other}, and this "
                f"run's dataset is {name}: set the values directly (e.g. --params=split.seed=5) "
                f"or add dataset={other}."
            )
        self._checked = True
        if name is not None and self.given.get(DATASET) != name:
            self.runtime_params = {**self.given, DATASET: name}
            self._runtime_params_oc = None  # Kedro caches its view of runtime_params


#: A configuration file's contents, named by its path.
Layer = tuple[str, dict[str, Any]]


def _blocks_only(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {DATASET_BLOCKS: tree[DATASET_BLOCKS]} if DATASET_BLOCKS in tree else {}
