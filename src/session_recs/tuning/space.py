"""The search, as configuration: ``params:tune`` and ``params:ray`` → a checked
:class:`~session_recs.tuning.settings.SearchSettings` (turned into Ray objects by
:mod:`session_recs.tuning.ray_objects`). Over 400 lines because it is every check a
search gets before Ray starts, in one place (one job: the user's search, parsed).

Everything a user can get wrong is checked here, before Ray starts: the preset name, the
hyperparameter names, every range (empty, wrong type, outside what gensim accepts), the
search algorithm against the space (Optuna samples, it does not enumerate grids), the
scheduler against the epoch budget, and the address format.

A search is a preset of ``tune.presets`` with three layers on top, later ones winning:
the preset, then ``tune.smoke_search`` when ``tune.smoke`` is on, then every other key set
directly under ``tune`` (so ``--params=tune.num_samples=20`` overrides any preset).
Dict-valued settings (``scheduler``, ``fixed``, ``tpe``) merge key by key; ``space`` and
``points_to_evaluate`` are replaced whole. Where Ray runs and stores results is the
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
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from session_recs.errors import ConfigError
from session_recs.tuning.settings import (
    DOMAIN_KINDS,
    HYPERPARAMETERS,
    MANAGED_OPTIONS,
    Domain,
    RaySettings,
    SchedulerSettings,
    SearchSettings,
)

# --- merging the layers ------------------------------------------------------------------

_MERGED_DICTS = ("scheduler", "fixed", "tpe")
_LAYER_KEYS = ("preset", "presets", "smoke_search")


def resolve_layers(tune: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The preset's name and its settings with the smoke and top-level layers applied."""
    if not isinstance(tune, Mapping):
        raise ConfigError(f"params 'tune' must be a mapping, got {type(tune).__name__}.")
    presets = tune.get("presets") or {}
    name = tune.get("preset")
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none defined"
        raise ConfigError(
            f"tune.preset={name!r} does not exist. Known presets: {known} "
            "(defined under tune.presets in conf/base/parameters_tune.yml)."
        )
    layers = [dict(presets[name] or {})]
    if tune.get("smoke"):
        layers.append(dict(tune.get("smoke_search") or {}))
    layers.append({k: v for k, v in tune.items() if k not in _LAYER_KEYS})
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in _MERGED_DICTS and isinstance(value, Mapping):
                merged[key] = {**(merged.get(key) or {}), **value}
            else:
                merged[key] = value
    return name, merged


# --- checking values ---------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_type(name: str, value: Any, where: str) -> Any:
    """``value`` as the hyperparameter's type, or a ConfigError naming ``where``."""
    spec = HYPERPARAMETERS[name]
    if spec.type is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where}: {name} takes whole numbers, got {value!r}.")
        return value
    if not _is_number(value):
        raise ConfigError(f"{where}: {name} takes numbers, got {value!r}.")
    return float(value)


def _check_minimum(name: str, domain: Domain, where: str) -> None:
    spec = HYPERPARAMETERS[name]
    low = domain.extent[0]
    if spec.minimum is None:
        return
    if low < spec.minimum or (spec.exclusive and low == spec.minimum):
        bound = f"> {spec.minimum:g}" if spec.exclusive else f">= {spec.minimum:g}"
        raise ConfigError(f"{where}: gensim needs {name} {bound}, but the range reaches {low:g}.")


def _grid_range(name: str, spec: Mapping[str, Any], where: str) -> tuple:
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


def parse_domain(name: str, spec: Any, where: str) -> Domain:
    """One space entry from its configuration, checked against gensim's limits."""
    if name not in HYPERPARAMETERS:
        raise ConfigError(
            f"Unknown hyperparameter {name!r} in {where.rsplit('.', 1)[0]}; searchable: "
            f"{', '.join(HYPERPARAMETERS)}."
        )
    kinds = [k for k in DOMAIN_KINDS if isinstance(spec, Mapping) and k in spec]
    extra = sorted(set(spec) - set(DOMAIN_KINDS) - {"step"}) if isinstance(spec, Mapping) else []
    if len(kinds) != 1 or extra:
        raise ConfigError(
            f"{where}: give exactly one of {', '.join(DOMAIN_KINDS)} (plus `step` for uniform "
            f"and int), e.g. {{int: [1, 20]}}; got {spec!r}."
        )
    kind = kinds[0]
    body = spec[kind]
    step = spec.get("step")
    if step is not None and (kind not in ("uniform", "int") or not _is_number(step) or step <= 0):
        raise ConfigError(f"{where}: `step` must be a positive number, for uniform or int only.")

    if kind in ("grid", "choice"):
        if kind == "grid" and isinstance(body, Mapping):
            values = _grid_range(name, body, where)
        elif isinstance(body, Sequence) and not isinstance(body, str):
            values = tuple(body)
        else:
            raise ConfigError(f"{where}: {kind} takes a list of values, got {body!r}.")
        if not values:
            raise ConfigError(f"{where}: empty {kind} (no values to try).")
        values = tuple(_check_type(name, v, where) for v in values)
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: {kind} lists a value twice: {list(values)}.")
        domain = Domain(kind, values=values)
    else:
        if (
            not isinstance(body, Sequence)
            or isinstance(body, str)
            or len(body) != 2
            or not all(_is_number(v) for v in body)
        ):
            raise ConfigError(f"{where}: {kind} takes [low, high], got {body!r}.")
        low, high = (_check_type(name, v, where) for v in body)
        if kind in ("int", "logint"):
            if not isinstance(low, int) or not isinstance(high, int):
                raise ConfigError(f"{where}: {kind} bounds must be whole numbers, got {body!r}.")
            if step is not None and not float(step).is_integer():
                raise ConfigError(f"{where}: an int range needs a whole-number step.")
            if low > high:
                raise ConfigError(f"{where}: empty range (low {low} > high {high}).")
        elif low >= high:
            raise ConfigError(f"{where}: empty range (low {low:g} must be < high {high:g}).")
        if kind in ("loguniform", "logint") and low <= 0:
            raise ConfigError(f"{where}: {kind} needs low > 0, got {low:g}.")
        if step is not None and kind == "int":
            step = int(step)
        domain = Domain(kind, low=low, high=high, step=step)
    _check_minimum(name, domain, where)
    return domain


def parse_ray_settings(ray: Mapping[str, Any] | None) -> RaySettings:
    """Check ``params:ray``: the address format, CPUs, timeout, storage and runtime_env."""
    if ray is not None and not isinstance(ray, Mapping):
        raise ConfigError(f"params 'ray' must be a mapping, got {ray!r}.")
    return RaySettings.model_validate(dict(ray or {}))


def _fixed(values: Mapping[str, Any], space: Mapping[str, Domain]) -> dict[str, Any]:
    fixed = dict(values.get("fixed") or {})
    for key, instead in MANAGED_OPTIONS.items():
        if key in fixed:
            raise ConfigError(f"tune.fixed.{key} is set by the search: use {instead}.")
    both = sorted(set(fixed) & set(space))
    if both:
        raise ConfigError(
            f"{both} both searched (tune.space) and fixed (tune.fixed); keep one of them."
        )
    for name in set(fixed) & set(HYPERPARAMETERS):
        fixed[name] = _check_type(name, fixed[name], f"tune.fixed.{name}")
        _check_minimum(name, Domain("choice", values=(fixed[name],)), f"tune.fixed.{name}")
    # The recommender checks the rest (unknown options, presets, gensim's own limits).
    from session_recs.models import build_model

    try:
        build_model("word2vec", fixed)
    except ConfigError as exc:
        raise ConfigError(f"tune.fixed: {exc}") from None
    return fixed


def _points(values: Mapping[str, Any], space: Mapping[str, Domain]) -> tuple[dict, ...]:
    points = values.get("points_to_evaluate") or []
    if not isinstance(points, Sequence) or isinstance(points, str):
        raise ConfigError(f"tune.points_to_evaluate must be a list of mappings, got {points!r}.")
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
        typed = {name: _check_type(name, value, where) for name, value in point.items()}
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


def parse_settings(tune: Mapping[str, Any], ray: Mapping[str, Any] | None = None) -> SearchSettings:
    """Check ``params:tune`` and ``params:ray``; return the search; raise ConfigError if bad.

    The space entries, ``fixed``, ``points_to_evaluate`` and ``tpe`` are checked against
    the space here; every other setting, and the rules between settings, by
    :class:`~session_recs.tuning.settings.SearchSettings`.
    """
    preset, values = resolve_layers(tune)
    raw_space = values.get("space") or {}
    if not isinstance(raw_space, Mapping):
        raise ConfigError(f"tune.space must be a mapping of hyperparameters, got {raw_space!r}.")
    space = {
        name: parse_domain(name, spec, f"tune.space.{name}") for name, spec in raw_space.items()
    }
    scheduler = values.get("scheduler") or {}
    if not isinstance(scheduler, Mapping):
        raise ConfigError(f"tune.scheduler must be a mapping, got {scheduler!r}.")
    settings = SearchSettings.model_validate(
        {
            **values,
            "preset": preset,
            "space": space,
            "scheduler": SchedulerSettings.model_validate(dict(scheduler)),
            "fixed": {},
            "points_to_evaluate": (),
            "tpe": {},
            "ray": parse_ray_settings(ray),
        }
    )
    # Checked against the space, once the space itself is known to be sound.
    return settings.model_copy(
        update={
            "fixed": _fixed(values, space),
            "points_to_evaluate": _points(values, space),
            "tpe": _tpe(values),
        }
    )
