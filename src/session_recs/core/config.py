"""Typed settings: one checking mechanism for every ``params:`` section.

Each section (``sessionize``, ``split``, ``evaluation``, ``report``, a model's ``model``)
is a pydantic model derived from :class:`Settings`. Kedro 1.7 validates a node's
``params:`` inputs against the models in its type hints before any node runs, so a bad
value stops the run before anything is fitted or saved; the same models check the
settings when the library is called directly.

A failed check raises :class:`~session_recs.core.errors.ConfigError` with one line naming the
key, the value and what is allowed, e.g.
``sessionize.gap_minutes = 'abc': expected a number``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from session_recs.core.errors import ConfigError

#: pydantic error types and the phrase that says what was expected.
_EXPECTED = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "int_type": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "finite_number": "expected a finite number",
}


class OptionError(ConfigError):
    """A setting with a bad value: which one (``section.key``), the value, what is allowed."""

    def __init__(self, section: str, key: str, value: Any, expected: str) -> None:
        self.section, self.key, self.value, self.expected = section, key, value, expected
        where = ".".join(part for part in (section, key) if part)
        super().__init__(
            f"{where} = {value!r}: {expected}" if value is not _NO_VALUE else f"{where}: {expected}"
        )


_NO_VALUE = object()


def option_error(err: ValidationError, section: str) -> OptionError:
    """The first problem of ``err`` as an :class:`OptionError` of ``section``."""
    first = err.errors(include_url=False)[0]
    key = ".".join(str(part) for part in first["loc"] if part != "")
    value = first.get("input", _NO_VALUE)
    kind = first["type"]
    if kind == "extra_forbidden":
        return OptionError(
            section, key, _NO_VALUE, f"unknown setting (value {value!r}); check the key's spelling."
        )
    if kind == "missing":
        return OptionError(section, key, _NO_VALUE, "required setting is missing.")
    expected = _EXPECTED.get(kind) or _lower_first(first["msg"])
    expected = expected.removeprefix("value error, ").removeprefix("Value error, ")
    more = len(err.errors()) - 1
    return OptionError(
        section, key, value, expected + (f" ({more} more problem(s))" if more else "")
    )


def _lower_first(text: str) -> str:
    text = text.replace("Input should be", "expected")
    return text[:1].lower() + text[1:]


class Settings(BaseModel):
    """Base of every settings section: unknown keys are refused, values are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: The ``params:`` key the section lives under (used in messages).
    section: ClassVar[str] = ""

    def __init__(self, **data: Any) -> None:
        """Check ``data``; a bad value raises ConfigError in one line."""
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise option_error(err, self.section) from None

    @classmethod
    def check(cls, section: str, **values: Any) -> Any:
        """``values`` checked, for options whose section is only known at the call (a
        model's name): an :class:`OptionError` of ``section`` on the first problem."""
        try:
            return super().model_validate(values)
        except ValidationError as err:
            raise option_error(err, section) from None
        except OptionError as err:  # pydantic validates through __init__, which names cls.section
            raise OptionError(section, err.key, err.value, err.expected) from None

    def __getitem__(self, key: str) -> Any:
        """Read a setting like a dict key (``params["k"]``), as before it was typed."""
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """A setting, or ``default`` when the section has no such key."""
        return getattr(self, key) if key in type(self).model_fields else default

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:
        """Check ``obj`` (a ``params:`` dict); a bad value raises ConfigError in one line."""
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, dict):
            raise ConfigError(f"{cls.section}: expected a mapping of settings, got {obj!r}.")
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as err:
            raise option_error(err, cls.section) from None
