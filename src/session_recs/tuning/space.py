"""The search, as configuration: ``params:tune`` and ``params:ray`` (and the searched
model namespace's ``model``) → a checked :class:`~session_recs.tuning.search_settings.
SearchSettings` (turned into Ray objects by :mod:`session_recs.tuning.ray_objects`). Over
400 lines because it is every check a search gets before Ray starts, in one place.

Checked before Ray starts: the preset (and that it searches the model's kind), each
space entry against what the model accepts (its option settings, see
:mod:`session_recs.models.searchable`: the name, the type, the range), the model built at
each entry's extremes, the search algorithm against the space (Optuna samples, it does
not enumerate grids), the scheduler against the model (ASHA needs epochs) and the
address format.

A search is a preset of ``tune.presets`` (``tune.preset``, or with ``auto`` the model
kind's ``tune.default_presets`` entry) with layers on top, later ones winning: the
preset, then ``tune.smoke_search`` (and its ``per_kind.<kind>``) when ``tune.smoke`` is
on, then every other key set directly under ``tune`` (so ``--params=tune.num_samples=20``
overrides any preset). Dict-valued settings (``scheduler``, ``fixed``, ``tpe``) merge key
by key; ``space`` and ``points_to_evaluate`` are replaced whole. Trials start from the
namespace's own options; ``points_to_evaluate: auto`` (the default) tries that
configuration first when the space holds it. Where Ray runs and stores results is the
separate ``params:ray`` (one top-level key, so a Kedro env such as ``conf/cluster``
replaces it without touching the search).

Space entries (one key each, plus ``step`` where noted)::

    window:      {grid: [1, 4, 7]}                      # every value, in order
    negative:    {grid: {start: 1, stop: 19, step: 3}}  # inclusive range
    vector_size: {choice: [32, 64, 128]}
    ns_exponent: {uniform: [-1.0, 1.0]}                 # optional step
    alpha:       {loguniform: [0.001, 0.1]}
    epochs:      {int: [10, 100]}                       # inclusive; optional step
    sample:      {loguniform: [1.0e-6, 1.0e-2]}
    window:      {logint: [1, 50]}                      # inclusive, log-uniform
    weighting:   {choice: [div, linear, quadratic]}     # words: choice or grid only
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from session_recs.core.errors import ConfigError
from session_recs.models import ModelSpec, build_model, model_class
from session_recs.models.searchable import SearchableOption, defaults_of, searchable_options
from session_recs.tuning.search_settings import (
    DOMAIN_KINDS,
    LEGACY_MODEL,
    MANAGED_OPTIONS,
    Domain,
    RaySettings,
    SchedulerSettings,
    SearchSettings,
)

# --- merging the layers ------------------------------------------------------------------

_MERGED_DICTS = ("scheduler", "fixed", "tpe", "auto_budget")
_LAYER_KEYS = ("preset", "presets", "smoke_search", "default_presets", "model", "models")
#: The key of ``tune.smoke_search`` holding one more layer per model kind.
_PER_KIND = "per_kind"


def _merge(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in _MERGED_DICTS and isinstance(value, Mapping):
                merged[key] = {**(merged.get(key) or {}), **value}
            else:
                merged[key] = value
    return merged


def selected_models(tune: Mapping[str, Any]) -> tuple[str, ...]:
    """The model namespaces a tune run searches: ``tune.models`` when it lists any (a list,
    or ``a+b+c`` from the command line), else ``tune.model`` (FF19's ``word2vec_search``
    when unset)."""
    models = tune.get("models") if isinstance(tune, Mapping) else None
    if isinstance(models, str):  # --params=tune.models=a+b+c (Kedro splits --params on ',')
        models = re.split(r"[+\s;]+", models.strip())
    if models:
        if not isinstance(models, Sequence):
            raise ConfigError(
                f"tune.models: expected a list of model names (or a+b+c), got {models!r}."
            )
        return tuple(dict.fromkeys(str(m) for m in models if str(m)))
    model = tune.get("model") if isinstance(tune, Mapping) else None
    return (str(model or LEGACY_MODEL),)


def preset_name(tune: Mapping[str, Any], kind: str) -> str:
    """The preset a search of a ``kind`` model uses: ``tune.preset``, or with ``auto`` the
    kind's entry of ``tune.default_presets``."""
    name = tune.get("preset", "auto")
    if name in (None, "auto"):
        defaults = tune.get("default_presets") or {}
        if kind not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise ConfigError(
                f"tune.preset=auto, and tune.default_presets names no preset for model kind "
                f"{kind!r} (it has: {known}); add one, or set --params=tune.preset=<name>."
            )
        name = defaults[kind]
    return name


def resolve_layers(tune: Mapping[str, Any], kind: str = "word2vec") -> tuple[str, dict[str, Any]]:
    """The preset's name and its settings with the smoke and top-level layers applied."""
    if not isinstance(tune, Mapping):
        raise ConfigError(f"params 'tune' must be a mapping, got {type(tune).__name__}.")
    presets = tune.get("presets") or {}
    name = preset_name(tune, kind)
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none defined"
        raise ConfigError(
            f"tune.preset={name!r} does not exist. Known presets: {known} "
            "(defined under tune.presets in conf/base/parameters_tune.yml)."
        )
    preset = dict(presets[name] or {})
    searches = preset.pop("kind", "word2vec")
    if searches != kind:
        fitting = sorted(n for n, p in presets.items() if (p or {}).get("kind", "word2vec") == kind)
        raise ConfigError(
            f"tune.preset={name!r} searches {searches} models, not {kind}; presets for {kind}: "
            f"{', '.join(fitting) or 'none (add one under tune.presets)'}."
        )
    layers = [preset]
    if tune.get("smoke"):
        smoke = dict(tune.get("smoke_search") or {})
        per_kind = smoke.pop(_PER_KIND, None) or {}
        layers += [smoke, dict(per_kind.get(kind) or {})]
    layers.append({k: v for k, v in tune.items() if k not in _LAYER_KEYS})
    return name, _merge(layers)


# --- checking values ---------------------------------------------------------------------


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _grid_range(spec: Mapping[str, Any], where: str) -> tuple:
    unknown = sorted(set(spec) - {"start", "stop", "step"})
    if unknown or not {"start", "stop"} <= set(spec):
        raise ConfigError(
            f"{where}: a grid range is {{start, stop, step}} (stop included), got {dict(spec)}."
        )
    start, stop = spec["start"], spec["stop"]
    step = spec.get("step", 1)
    if not all(_is_number(v) for v in (start, stop, step)) or step <= 0:
        raise ConfigError(f"{where}: grid start/stop/step must be numbers with step > 0.")
    if start > stop:
        raise ConfigError(f"{where}: empty range (start {start} > stop {stop}).")
    count = math.floor((stop - start) / step + 1e-9) + 1
    # Rounding keeps float grids exact (-1.0, -0.8, ... 1.0, not 0.19999999999999996).
    values = [start + i * step for i in range(count)]
    if all(isinstance(v, int) for v in (start, stop, step)):
        return tuple(values)
    return tuple(round(v, 10) + 0.0 for v in values)


def _unknown_option(name: str, where: str, model: str, kind: str, searchable: Mapping) -> str:
    close = difflib.get_close_matches(name, list(searchable), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (
        f"{where}: {model} ({kind}) has no searchable option {name!r}{hint}; searchable: "
        f"{', '.join(searchable) or 'none'}."
    )


def parse_domain(
    name: str,
    spec: Any,
    where: str,
    searchable: Mapping[str, SearchableOption],
    *,
    model: str = LEGACY_MODEL,
    kind: str = "word2vec",
) -> Domain:
    """One space entry from its configuration, checked against what the model accepts."""
    if name not in searchable:
        raise ConfigError(_unknown_option(name, where, model, kind, searchable))
    option = searchable[name]
    kinds = [k for k in DOMAIN_KINDS if isinstance(spec, Mapping) and k in spec]
    extra = sorted(set(spec) - set(DOMAIN_KINDS) - {"step"}) if isinstance(spec, Mapping) else []
    if len(kinds) != 1 or extra:
        raise ConfigError(
            f"{where}: give exactly one of {', '.join(DOMAIN_KINDS)} (plus `step` for uniform "
            f"and int), e.g. {{int: [1, 20]}}; got {spec!r}."
        )
    kind_of_domain = kinds[0]
    body = spec[kind_of_domain]
    step = spec.get("step")
    if step is not None and (
        kind_of_domain not in ("uniform", "int") or not _is_number(step) or step <= 0
    ):
        raise ConfigError(f"{where}: `step` must be a positive number, for uniform or int only.")

    if kind_of_domain in ("grid", "choice"):
        if kind_of_domain == "grid" and isinstance(body, Mapping):
            values = _grid_range(body, where)
        elif isinstance(body, Sequence) and not isinstance(body, str):
            values = tuple(body)
        else:
            raise ConfigError(f"{where}: {kind_of_domain} takes a list of values, got {body!r}.")
        if not values:
            raise ConfigError(f"{where}: empty {kind_of_domain} (no values to try).")
        values = tuple(option.check(v, where) for v in values)
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: {kind_of_domain} lists a value twice: {list(values)}.")
        return Domain(kind_of_domain, values=values)
    if not option.is_numeric:
        raise ConfigError(
            f"{where}: {name} takes {option.describe()}; list them with choice or grid, "
            f"not {kind_of_domain}."
        )
    if (
        not isinstance(body, Sequence)
        or isinstance(body, str)
        or len(body) != 2
        or not all(_is_number(v) for v in body)
    ):
        raise ConfigError(f"{where}: {kind_of_domain} takes [low, high], got {body!r}.")
    if option.type is int and kind_of_domain in ("uniform", "loguniform"):
        raise ConfigError(
            f"{where}: {name} takes whole numbers; use int or logint, not {kind_of_domain}."
        )
    low, high = (option.check(v, where) for v in body)
    if kind_of_domain in ("int", "logint"):
        if not isinstance(low, int) or not isinstance(high, int):
            raise ConfigError(
                f"{where}: {kind_of_domain} bounds must be whole numbers, got {body!r}."
            )
        if step is not None and not float(step).is_integer():
            raise ConfigError(f"{where}: an int range needs a whole-number step.")
        if low > high:
            raise ConfigError(f"{where}: empty range (low {low} > high {high}).")
    elif low >= high:
        raise ConfigError(f"{where}: empty range (low {low:g} must be < high {high:g}).")
    if kind_of_domain in ("loguniform", "logint") and low <= 0:
        raise ConfigError(f"{where}: {kind_of_domain} needs low > 0, got {low:g}.")
    if step is not None and kind_of_domain == "int":
        step = int(step)
    return Domain(kind_of_domain, low=low, high=high, step=step)


def parse_ray_settings(ray: Mapping[str, Any] | None) -> RaySettings:
    """Check ``params:ray``: the address format, CPUs, timeout, storage and runtime_env."""
    if ray is not None and not isinstance(ray, Mapping):
        raise ConfigError(f"params 'ray' must be a mapping, got {ray!r}.")
    return RaySettings.model_validate(dict(ray or {}))


def _fixed(
    values: Mapping[str, Any],
    space: Mapping[str, Domain],
    model: ModelSpec,
    name: str,
    resource: str | None,
) -> dict[str, Any]:
    """The options every trial shares: the model namespace's own, then ``tune.fixed``."""
    given = dict(values.get("fixed") or {})
    managed = dict(MANAGED_OPTIONS)
    if resource:
        managed[resource] = f"tune.max_epochs (or search `{resource}` in tune.space)"
    for key, instead in managed.items():
        if key in given:
            raise ConfigError(f"tune.fixed.{key} is set by the search: use {instead}.")
    both = sorted(set(given) & set(space))
    if both:
        raise ConfigError(
            f"{both} both searched (tune.space) and fixed (tune.fixed); keep one of them."
        )
    own = {k: v for k, v in model.options.items() if k not in space and k not in managed}
    if resource:
        own.pop(resource, None)
    fixed = {**own, **given}
    # The model checks each searched option's extremes (every value of a choice of
    # words), the others at their first: unknown options, ranges, and rules between
    # options (Word2Vec without negatives or hs trains nothing).
    ends = {option: _ends(domain) for option, domain in space.items()}
    first = {option: values[0] for option, values in ends.items()}
    corners = [{}, first] + [
        {**first, option: value} for option, values in ends.items() for value in values[1:]
    ]
    for corner in corners:
        try:
            build_model(model.kind, {**fixed, **corner})
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in corner.items())
            where = f"tune.space ({shown}) for {name}" if corner else "tune.fixed"
            raise ConfigError(f"{where}: {exc}") from None
    return fixed


def _ends(domain: Domain) -> tuple:
    """The values of ``domain`` a model check must try: its two ends, or every word."""
    if domain.values and not all(_is_number(v) for v in domain.values):
        return domain.values
    low, high = domain.extent
    return (low, high) if low != high else (low,)


def _starting_points(
    values: Mapping[str, Any],
    space: Mapping[str, Domain],
    searchable: Mapping[str, SearchableOption],
    model: ModelSpec,
) -> Any:
    """``points_to_evaluate``, or (``auto``) the model's own configuration when the space
    holds it: the search then never ends below the model it tunes."""
    points = values.get("points_to_evaluate", "auto")
    if points != "auto":
        return points
    own = defaults_of(searchable, model.options)
    point = {name: own[name] for name in space if name in own}
    if len(point) == len(space) and all(space[n].contains(v) for n, v in point.items()):
        return [point]
    return []


def _points(
    points: Any, space: Mapping[str, Domain], searchable: Mapping[str, SearchableOption]
) -> tuple[dict, ...]:
    if points is None:
        points = []
    if not isinstance(points, Sequence) or isinstance(points, str):
        raise ConfigError(
            f"tune.points_to_evaluate must be a list of mappings (or auto), got {points!r}."
        )
    checked = []
    for i, point in enumerate(points):
        where = f"tune.points_to_evaluate[{i}]"
        if not isinstance(point, Mapping):
            raise ConfigError(f"{where} must be a mapping of hyperparameters, got {point!r}.")
        unknown = sorted(set(point) - set(space))
        if unknown:
            raise ConfigError(
                f"{where} sets {unknown}, which the search space does not vary "
                f"(searched: {', '.join(space) or 'none'})."
            )
        typed = {name: searchable[name].check(value, where) for name, value in point.items()}
        outside = [name for name, value in typed.items() if not space[name].contains(value)]
        if outside:
            name = outside[0]
            raise ConfigError(
                f"{where}: {name}={typed[name]!r} is outside tune.space.{name} "
                f"({space[name].describe()})."
            )
        checked.append(typed)
    return tuple(checked)


def _tpe(values: Mapping[str, Any]) -> dict[str, Any]:
    tpe = dict(values.get("tpe") or {})
    from optuna.samplers import TPESampler

    valid = set(inspect.signature(TPESampler).parameters) - {"seed"}
    unknown = sorted(set(tpe) - valid)
    if unknown:
        raise ConfigError(
            f"Unknown tune.tpe option(s) {unknown} (optuna.samplers.TPESampler arguments; "
            "the seed comes from tune.seed)."
        )
    return tpe


def parse_settings(
    tune: Mapping[str, Any],
    ray: Mapping[str, Any] | None = None,
    model: str = LEGACY_MODEL,
    spec: Mapping[str, Any] | ModelSpec | None = None,
    share: int = 1,
) -> SearchSettings:
    """Check the search of model namespace ``model`` (its ``spec``: kind and options) from
    ``params:tune`` and ``params:ray``; raise ConfigError if anything is wrong.

    ``share``: how many models the run searches; each gets that share of
    ``tune.time_budget_s`` (of an ``auto`` budget once the training data is known). The
    space entries, ``fixed``, ``points_to_evaluate`` and ``tpe`` are checked against the
    model here; every other setting, and the rules between settings, by
    :class:`~session_recs.tuning.search_settings.SearchSettings`.
    """
    spec = (
        ModelSpec.model_validate(dict(spec) if isinstance(spec, Mapping) else spec)
        if spec is not None
        else ModelSpec(kind="word2vec")
    )
    cls = model_class(spec.kind)
    searchable = searchable_options(cls)
    if not searchable:
        raise ConfigError(
            f"tune.model={model!r} is a {spec.kind} model, which has no option to search; "
            "pick another namespace."
        )
    preset, values = resolve_layers(tune, spec.kind)
    raw_space = values.get("space") or {}
    if not isinstance(raw_space, Mapping):
        raise ConfigError(f"tune.space must be a mapping of hyperparameters, got {raw_space!r}.")
    space = {
        name: parse_domain(
            name, entry, f"tune.space.{name}", searchable, model=model, kind=spec.kind
        )
        for name, entry in raw_space.items()
    }
    scheduler = values.get("scheduler") or {}
    if not isinstance(scheduler, Mapping):
        raise ConfigError(f"tune.scheduler must be a mapping, got {scheduler!r}.")
    resource = cls.training_resource
    budget = values.get("time_budget_s")
    if share > 1 and _is_number(budget) and budget > 0:
        values = {**values, "time_budget_s": budget / share}
    settings = SearchSettings.model_validate(
        {
            **{k: v for k, v in values.items() if k != "points_to_evaluate"},
            "preset": preset,
            "model": model,
            "kind": spec.kind,
            "resource": resource,
            "searchable": searchable,
            "space": space,
            "scheduler": SchedulerSettings.model_validate(dict(scheduler)),
            "fixed": {},
            "points_to_evaluate": (),
            "tpe": {},
            "ray": parse_ray_settings(ray),
            "share": share,
            **({} if resource else {"max_epochs": 1}),
        }
    )
    # Checked against the space, once the space itself is known to be sound.
    points = _starting_points(values, space, searchable, spec)
    return settings.model_copy(
        update={
            "fixed": _fixed(values, space, spec, model, resource),
            "points_to_evaluate": _points(points, space, searchable),
            "tpe": _tpe(values),
        }
    )
