"""What is wrong with a configuration file, in one line naming it (and the line).

Kedro's OmegaConfigLoader reports most faults of a conf file without naming the file or
with a 0-based line, and some (a list where a mapping belongs) as an AttributeError;
:class:`~session_recs.framework.config_loader.ProjectConfigLoader` asks these functions which
file, line and value is at fault once Kedro has failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from session_recs.core.errors import ConfigError

#: Kedro's message for a key set in two files of one environment.
DUPLICATES = re.compile(
    r"Duplicate keys found in (?P<first>\S+) and (?P<second>\S+): (?P<keys>.*)$"
)


def shown(path: Path, top: Path) -> str:
    """``path`` relative to ``top`` (the folder holding conf/) when it is inside it."""
    try:
        return str(Path(path).relative_to(top))
    except ValueError:
        return str(path)


def bad_conf_file(paths: list[Path], key: str, top: Path) -> ConfigError | None:
    """The first of ``paths`` that is not UTF-8, not valid YAML (or JSON) or not a mapping
    of ``key`` (parameters, catalog...), in one line; None when they all read."""
    for path in paths:
        name = shown(path, top)
        data = path.read_bytes()
        try:
            text = data.decode("utf8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            return ConfigError(
                f"{name}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}); "
                "save the file as UTF-8."
            )
        try:
            config = OmegaConf.create(text)  # OmegaConf's YAML loader: no duplicate keys
        except yaml.YAMLError as err:
            language = "JSON" if path.suffix == ".json" else "YAML"
            return ConfigError(f"{name}{yaml_problem(err, text)}; expected valid {language}.")
        except Exception:
            continue
        if not isinstance(config, DictConfig):
            kind = type(config).__name__.removesuffix("Config").lower()
            return ConfigError(
                f"{name}: expected a mapping of {key} (name: value lines at the top level), "
                f"got a {kind}."
            )
    return None


def yaml_problem(err: yaml.YAMLError, text: str) -> str:
    """``, line N, column M: <problem>`` of a YAML error in ``text`` (counted from 1)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    if context and "duplicate" not in problem and context not in problem:
        problem = f"{context}, {problem}"
    if mark is None:
        return f": {problem}"
    lines = text.splitlines()
    if mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        problem += " (a tab: YAML indents with spaces only)"
    return f", line {mark.line + 1}, column {mark.column + 1}: {problem}"


def line_of(path: Path, text: str) -> str:
    """``, line N`` of the first line of ``path`` holding ``text``, or nothing."""
    try:
        lines = path.read_text(encoding="utf8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    found = next((n for n, line in enumerate(lines, 1) if text in line), None)
    return f", line {found}" if found else ""


def catalog_entry_problem(entry: Any) -> str | None:
    """What a catalog entry lacks before Kedro can build it (Kedro refuses these without
    saying where, or not at all: ``versioned: [1]``, ``filepath: 12``)."""
    if not isinstance(entry, Mapping):
        return f"expected a dataset entry (type, filepath, ...), got {entry!r}"
    if not isinstance(entry.get("type"), str) or not entry.get("type"):
        return "has no 'type' (e.g. type: pandas.ParquetDataset)"
    if not isinstance(entry.get("versioned", False), bool):
        return f"versioned: expected true or false, got {entry['versioned']!r}"
    if not isinstance(entry.get("filepath", ""), str):
        return f"filepath: expected a path, got {entry['filepath']!r}"
    return None


def folder_as_file(folder: Path, patterns: Any, key: str, top: Path) -> ConfigError | None:
    """A folder named like a conf file (``parameters.yml/``), which Kedro skips silently;
    a folder ``parameters/`` is Kedro's layout for many files and stays allowed."""
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
            if path.suffix in {".yml", ".yaml", ".json"} and path.is_dir() and not hidden:
                return ConfigError(
                    f"{shown(path, top)} is a folder; expected a YAML file of {key} "
                    "(move its files up into the environment's folder)."
                )
    return None


def repeated_keys(message: str, top: Path) -> ConfigError | None:
    """Kedro's ValueError for a key set in two files of one environment, in one line."""
    duplicate = DUPLICATES.match(message)
    if duplicate is None:
        return None
    first, second = (shown(Path(duplicate[n]), top) for n in ("first", "second"))
    return ConfigError(
        f"{first} and {second} both set {duplicate['keys']}: the files of one environment "
        "must not repeat a key; keep it in one of them."
    )


def unresolved(
    exc: Exception, full_key: str, where: tuple[str, Any] | None, top: Path
) -> ConfigError:
    """An ``${...}`` that resolves to nothing, named by the file and line that set
    ``full_key`` (``where``: that file, as shown, and the value written there)."""
    message = str(exc).splitlines()[0]
    at = ""
    if where is not None:
        name, value = where
        at = f"{name}{line_of(top / name, str(value))}: "
        full_key = f"{full_key} = {value}"
    runtime = re.match(r"Runtime parameter '([^']*)' not found", message)
    if runtime:
        message = (
            f"no --params={runtime[1]}=... was given and the interpolation has no default; "
            f"write ${{runtime_params:{runtime[1]},<default>}}"
        )
    else:
        message = message[0].lower() + message[1:]
    return ConfigError(f"{at}{full_key}: {message}.")
