"""What a tune search may vary for a model kind, read from the model's own option settings.

Every model class names the :class:`~session_recs.core.config.Settings` models that check its
options (``search_settings``) and, when it trains over a resource a scheduler can cut
short, that resource (``training_resource``: Word2Vec's ``epochs``). The type and range of
each searchable option is then the one the model itself enforces, declared once, in its
option settings: :func:`searchable_options` reads them so the search space can be checked
against them before Ray starts.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import annotated_types
from pydantic_core import PydanticUndefined

from session_recs.core.errors import ConfigError
from session_recs.models.base import Recommender

#: Options the search sets itself on every trial, never searched.
MANAGED = (
    "seed",
    "workers",
    "callbacks",
    "progress",
    "preset",
    "validation_k",
    "validation_context",
    "validation_exclude_query",
)


@dataclass(frozen=True)
class SearchableOption:
    """One option a search may vary: its type and the values the model accepts."""

    name: str
    type: type  # int, float, bool or str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple | None = None
    nullable: bool = False
    default: Any = None

    @property
    def is_numeric(self) -> bool:
        return self.type in (int, float) and self.choices is None

    def describe(self) -> str:
        """What the option takes, in words (``int >= 1``, ``one of div, linear``)."""
        if self.choices is not None:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        else:
            text = "whole numbers" if self.type is int else "numbers"
            bounds = []
            if self.minimum is not None:
                bounds.append(f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}")
            if self.maximum is not None:
                bounds.append(f"{'<' if self.exclusive_maximum else '<='} {self.maximum:g}")
            if bounds:
                text += " " + " and ".join(bounds)
        return text + (" (or null)" if self.nullable else "")

    def check(self, value: Any, where: str) -> Any:
        """``value`` as this option's type, or a ConfigError naming ``where``."""
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"{where}: {self.name} takes {self.describe()}, got null.")
        if self.choices is not None:
            if value not in self.choices or isinstance(value, bool) != isinstance(
                self.choices[0], bool
            ):
                raise ConfigError(f"{where}: {self.name} takes {self.describe()}, got {value!r}.")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {self.name} takes {self.describe()}, got {value!r}.")
        if self.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"{where}: {self.name} takes {self.describe()}, got {value!r}.")
            value = int(value)
        else:
            value = float(value)
        low, high = self.minimum, self.maximum
        if (low is not None and (value < low or (self.exclusive_minimum and value == low))) or (
            high is not None and (value > high or (self.exclusive_maximum and value == high))
        ):
            raise ConfigError(f"{where}: {self.name} takes {self.describe()}, got {value!r}.")
        return value


def _option(name: str, field: Any) -> SearchableOption | None:
    annotation = field.annotation
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            return None
        annotation = args[0]
    choices = None
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        kind = type(choices[0])
    elif annotation is bool:
        kind, choices = bool, (True, False)
    elif annotation in (int, float):
        kind = annotation
    else:
        return None  # lists, mappings, objects: not searchable
    bounds: dict[str, Any] = {}
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            bounds["minimum"] = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            bounds.update(minimum=meta.gt, exclusive_minimum=True)
        elif isinstance(meta, annotated_types.Le):
            bounds["maximum"] = meta.le
        elif isinstance(meta, annotated_types.Lt):
            bounds.update(maximum=meta.lt, exclusive_maximum=True)
    default = None if field.default is PydanticUndefined else field.default
    return SearchableOption(
        name, kind, choices=choices, nullable=nullable, default=default, **bounds
    )


def searchable_options(model_class: type[Recommender]) -> dict[str, SearchableOption]:
    """The options a search may vary for ``model_class``, from its ``search_settings``
    (types and ranges: its ``Options`` or their parts) and the defaults its constructor
    takes (``given_options``: None where a preset sets the value)."""
    defaults = model_class.given_options({})
    found: dict[str, SearchableOption] = {}
    for settings in getattr(model_class, "search_settings", ()):
        for name, field in settings.model_fields.items():
            if name in MANAGED or name in found:
                continue
            option = _option(name, field)
            if option is not None:
                found[name] = replace(option, default=defaults.get(name, option.default))
    return found


def defaults_of(
    options: Mapping[str, SearchableOption], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Each option's value in ``given``, else its default (options without one left out)."""
    values = {}
    for name, option in options.items():
        if name in given:
            values[name] = given[name]
        elif option.default is not None or option.nullable:
            values[name] = option.default
    return values
