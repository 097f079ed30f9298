"""Recommenders behind one interface (:class:`~session_recs.models.base.Recommender`).

:func:`build_model` makes any of them from configuration (``kind`` plus options), so a new
model is one class registered in :data:`~session_recs.models.registry.MODEL_KINDS`
plus a parameters entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from session_recs.core.config import OptionError, Settings
from session_recs.core.errors import ConfigError
from session_recs.models.base import Recommender
from session_recs.models.registry import MODEL_KINDS, kind_of, missing_extra


def model_class(kind: str) -> type[Recommender]:
    """The Recommender class registered under ``kind``."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"Unknown model kind {kind!r}; known kinds: {', '.join(MODEL_KINDS)}.")
    missing = missing_extra(kind)
    if missing:
        raise ConfigError(f"{kind} needs {missing}.")
    module, _, name = MODEL_KINDS[kind].partition(":")
    loaded = importlib.import_module(module)
    if name:
        return getattr(loaded, name)
    # A kind added by its module alone: the module's Recommender subclass named ``kind``.
    found = [
        value
        for value in vars(loaded).values()
        if isinstance(value, type)
        and issubclass(value, Recommender)
        and value.__module__ == module
        and value.name == kind
    ]
    if len(found) != 1:
        raise ConfigError(
            f"{module} should define one Recommender subclass with name = {kind!r}; "
            f"found {len(found)}."
        )
    return found[0]


def build_model(kind: str, options: Mapping[str, Any] | None = None) -> Recommender:
    """Instantiate model ``kind`` with ``options``, naming any option it does not take."""
    cls = model_class(kind)
    options = dict(options or {})
    valid = accepted_options(cls)
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(
            f"Unknown option(s) {unknown} for model kind {kind!r}; valid options: {sorted(valid)}."
        )
    model = cls(**options)  # the options are checked by cls.Options
    # What answered a query later (``recommend``, the served model) is told by this record.
    model.built_from = {"kind": kind, "options": effective_options(kind, options)}
    return model


def effective_options(kind: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every option model ``kind`` takes (its ``Options``), as ``options`` set it or else
    its default; arguments of a fit (``callbacks``, ``progress``) are not options."""
    return model_class(kind).given_options(dict(options or {}))


def describe_model(model: Recommender) -> tuple[str, dict[str, Any]]:
    """A model's kind and every option with the value in force (defaults included, a
    preset's values where an option is left None): what a result was measured with."""
    built = getattr(model, "built_from", None)
    if built:
        kind, options = built["kind"], dict(built["options"])
    else:  # built directly, not through build_model
        cls = type(model)
        kind = kind_of(cls) or cls.__qualname__
        options = model.options.model_dump()
    resolved = dict(model.params())
    return kind, {
        name: resolved.get(name) if value is None else value for name, value in options.items()
    }


def accepted_options(cls: type[Recommender]) -> set[str]:
    """What ``cls``'s constructor takes: its options and the arguments of a fit."""
    return {*cls.Options.model_fields, *cls.run_arguments}


class ModelSpec(Settings):
    """A model namespace's ``model`` parameters: which kind, with which options.

    Checked before any node runs: the kind must exist and take every option, and the
    options must be valid for it (the model is built, not fitted; a kind whose extra is not
    installed is checked when it is built). ``from_search`` (the
    tune pipeline's best configuration replaces ``options``) applies to the searched Word2Vec
    (:data:`~session_recs.models.registry.SEARCHED_MODEL`).
    """

    section: ClassVar[str] = "model"

    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    from_search: bool = False

    @field_validator("options", mode="before")
    @classmethod
    def _none_is_empty(cls, options: Any) -> Any:
        return {} if options is None else options

    @model_validator(mode="after")
    def _buildable(self) -> ModelSpec:
        if self.kind in MODEL_KINDS and missing_extra(self.kind):
            # Kedro checks every pipeline's parameters on every run: a model whose extra is
            # missing is left out by the run planning (one line), or refused when built.
            return self
        try:
            build_model(self.kind, self.options)
        except OptionError as err:  # named by the key a user sets: model.options.<option>
            raise OptionError(f"{self.section}.options", err.key, err.value, err.expected) from None
        return self

    def build(self) -> Recommender:
        """A new, unfitted model of this kind and options."""
        return build_model(self.kind, self.options)


__all__ = [
    "MODEL_KINDS",
    "ModelSpec",
    "Recommender",
    "build_model",
    "describe_model",
    "effective_options",
    "missing_extra",
    "model_class",
]
